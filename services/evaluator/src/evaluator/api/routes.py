"""``GET /runs/{run_id}/summary``: the evaluator's current statistics of a run (debugging aid;
clients read evaluations through query-api)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request

from evaluator.api.schemas import RunSummaryResponse
from evaluator.handlers.summaries import RunSummaries

router = APIRouter(prefix="/runs", tags=["evaluation"])


@router.get("/{run_id}/summary", response_model=RunSummaryResponse)
async def run_summary(run_id: UUID, request: Request) -> RunSummaryResponse:
    run_summaries: RunSummaries = request.app.state.run_summaries
    summary = await run_summaries.of_run(str(run_id))
    state = summary.state
    return RunSummaryResponse(
        run_id=run_id,
        status=state.status,
        total_calls=state.total_calls,
        evaluated=state.evaluated,
        stream_version=state.stream_version,
        summaries=summary.summaries,
    )
