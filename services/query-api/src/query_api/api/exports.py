"""Exports: a run's results as NDJSON (``application/x-ndjson``), streamed, with the filters of
the paged list."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import StreamingResponse

from promptworks_eventkit.errors import NotFoundError
from query_api.api.deps import ReadSession
from query_api.api.ownership import RUNS_AND_BATCHES
from query_api.api.result_params import EvaluationParam, ResultFilters
from query_api.queries import reevaluated_results
from query_api.queries import runs as run_queries
from query_api.queries.evaluation_sources import FIRST, choose
from query_api.queries.exports import results_ndjson

router = APIRouter(tags=["test runs"], dependencies=RUNS_AND_BATCHES)


@router.get(
    "/test_prompt/{run_id}/results/export",
    summary="A run's results as NDJSON (streamed)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One result per line, each as `GET /test_prompt/{id}/results` "
            "answers it, in (case_index, repetition) order",
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        },
        404: {"description": "No such run"},
    },
)
async def export_results(
    request: Request,
    session: ReadSession,
    run_id: Annotated[UUID, Path(description="The run's id")],
    filters: ResultFilters,
    evaluation: EvaluationParam = None,
) -> Response:
    if not await run_queries.run_exists(session, run_id):
        raise NotFoundError(f"test run {run_id} does not exist", field="run_id")
    source = await choose(session, run_id, evaluation)
    sessions = request.app.state.runtime.sessions
    return StreamingResponse(
        results_ndjson(sessions, run_id, filters)
        if source is FIRST
        else reevaluated_results.ndjson(sessions, run_id, filters, source),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="run-{run_id}-results.ndjson"'},
    )
