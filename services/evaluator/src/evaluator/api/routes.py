"""``GET /runs/{run_id}/summary``: the evaluator's current statistics of a run (debugging aid;
clients read evaluations through query-api)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from evaluator import repository
from evaluator.api.schemas import RunSummaryResponse
from evaluator.domain.plan import metric_names
from evaluator.domain.stats import summaries
from promptworks_eventkit.errors import NotFoundError

router = APIRouter(prefix="/runs", tags=["evaluation"])


@router.get("/{run_id}/summary", response_model=RunSummaryResponse)
async def run_summary(run_id: UUID, request: Request) -> RunSummaryResponse:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.runtime.sessions
    key = str(run_id)
    async with sessions() as session:
        state = (await repository.load_states(session, [key])).get(key)
        if state is None:
            raise NotFoundError(f"run {key} has not been seen by the evaluator", field="run_id")
        spec = (await repository.load_specs(session, [key]))[key]
        stats = (await repository.load_stats(session, [key])).get(key, {})
    return RunSummaryResponse(
        run_id=run_id,
        status=state.status,
        total_calls=state.total_calls,
        evaluated=state.evaluated,
        stream_version=state.stream_version,
        summaries=summaries(metric_names(spec.assertions), stats),
    )
