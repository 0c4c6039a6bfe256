"""/api/v1/test_prompt: test runs and their results; creation forwarded to run-orchestrator.

The path keeps the original PromptWorks name so its frontend keeps working.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.api.runs import CreateRunRequest
from promptworks_contracts.topics import RUN_EVENTS
from promptworks_eventkit.errors import NotFoundError
from query_api.api import hot_routes, paging
from query_api.api.deps import (
    CURSOR_HEADERS,
    Project,
    Settings,
    Writes,
    read_snapshot,
)
from query_api.api.ownership import owned
from query_api.api.result_params import EvaluationParam, ResultFilters, RunFilters
from query_api.hot_reads import HotReads
from query_api.queries import reevaluated_results, run_documents
from query_api.queries import runs as queries
from query_api.queries.evaluation_sources import FIRST, choose, reevaluation
from query_api.queries.result_filters import ResultFilter
from query_api.schemas.runs import ResultOut, RunOut, RunStatus
from query_api.settings import QueryApiSettings
from query_api.tables import runs
from query_api.writes import WriteTarget

router = APIRouter(
    prefix="/test_prompt", tags=["test runs"], dependencies=[owned(runs, "run_id", "run")]
)

RunId = Annotated[UUID, Path(description="The run's id")]


@router.get(
    "",
    response_model=list[RunOut],
    responses={200: {"headers": CURSOR_HEADERS}},
    summary="List test runs",
)
async def list_runs(
    project: Project,
    request: Request,
    more: RunFilters,
    status: Annotated[RunStatus | None, Query(description="Only runs in this status")] = None,
    prompt_version_id: Annotated[UUID | None, Query()] = None,
    prompt_id: Annotated[UUID | None, Query()] = None,
    batch_id: Annotated[
        str | None, Query(max_length=200, description="Only the runs of this batch")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=paging.RUNS_LIMIT[1])] = paging.RUNS_LIMIT[0],
    offset: paging.Offset = 0,
    cursor: paging.CursorParam = None,
) -> Response:
    """Newest first unless `sort` says otherwise."""
    first = paging.start(request, "runs", offset, cursor)
    filters = {
        "status": status,
        "prompt_version_id": prompt_version_id,
        "prompt_id": prompt_id,
        "batch_id": batch_id,
        "provider": more.provider,
        "model_name": more.model_name,
        "created_after": more.created_after,
        "created_before": more.created_before,
    }
    # The page's JSON is built by PostgreSQL (queries.run_documents): passed on as it comes.
    reads: HotReads = request.app.state.hot_reads
    total, count, body = await run_documents.page(reads, project, filters, more.sort, limit, first)
    return paging.page_response(request, "runs", first, count, total, body)


@router.get("/{run_id}", response_model=RunOut, summary="One test run")
async def get_run(request: Request, project: Project, run_id: RunId) -> Response:
    # The run's item of the list (run_documents: its JSON built by PostgreSQL, ADR 0029).
    body = await run_documents.one(request.app.state.hot_reads, project, run_id)
    if body is None:
        raise NotFoundError(f"test run {run_id} does not exist", field="run_id")
    return hot_routes.run_response(body)


@router.get(
    "/{run_id}/results",
    response_model=list[ResultOut],
    responses={200: {"headers": CURSOR_HEADERS}},
    summary="A run's results with their metrics",
)
async def list_results(
    request: Request,
    run_id: RunId,
    filters: ResultFilters,
    evaluation: EvaluationParam = None,
    limit: Annotated[int, Query(ge=1, le=paging.RESULTS_LIMIT[1])] = paging.RESULTS_LIMIT[0],
    offset: paging.Offset = 0,
    cursor: paging.CursorParam = None,
) -> Response:
    """Ordered by (case_index, repetition); each result carries every metric recorded so far,
    and its verdict, of the chosen evaluation (default: the latest). A whole run in one
    answer: `/results/export` (NDJSON, streamed)."""
    first = paging.start(request, "results", offset, cursor)
    run: queries.RunForResults | None = None
    if evaluation is None and filters.none:
        # The hot path: a finished run's page by position with the run itself, one statement.
        reads: HotReads = request.app.state.hot_reads
        run, answered = await hot_routes.result_page(request.scope, reads, run_id, limit, first)
        if run is None:
            raise NotFoundError(f"test run {run_id} does not exist", field="run_id")
        if answered is not None:
            return hot_routes.answered_results(request, limit, first, answered)
    async with read_snapshot(request) as session:
        page = await _results(session, run_id, filters, evaluation, limit, first, run)
    if page is None:
        raise NotFoundError(f"test run {run_id} does not exist", field="run_id")
    total, documents = page
    # Each result is stored as the JSON it is answered with: the page is their concatenation.
    body = "[" + ",".join(documents) + "]"
    return paging.page_response(request, "results", first, len(documents), total, body)


async def _results(
    session: AsyncSession,
    run_id: UUID,
    filters: ResultFilter,
    evaluation: UUID | None,
    limit: int,
    first: int,
    run: queries.RunForResults | None,
) -> tuple[int, list[str]] | None:
    """A page read in the request's snapshot; ``run``: the hot path's read of it, if made."""
    if evaluation is None:
        if run is None:
            # The default (the latest evaluation) is read with the run itself: one round trip.
            run = await queries.run_for_results(session, run_id)
        if run is not None and run.latest is None:
            conditions = filters.conditions()
            return await queries.result_page(session, run_id, limit, first, conditions, run)
        if run is not None and run.latest is not None:
            source = reevaluation(run.latest)
            return await reevaluated_results.page(session, run_id, limit, first, filters, source)
        return None
    source = await choose(session, run_id, evaluation)
    if source is FIRST:
        return await queries.result_page(session, run_id, limit, first, filters.conditions())
    if await queries.run_exists(session, run_id):
        return await reevaluated_results.page(session, run_id, limit, first, filters, source)
    return None


@router.post(
    "",
    status_code=201,
    response_model=RunOut,
    summary="Start a test run",
    responses={
        202: {"description": "Recorded by run-orchestrator, not yet visible here; see Location"},
        422: {"description": "run-orchestrator refused the body; `errors` names the field"},
        502: {"description": "run-orchestrator failed mid-request; read back before retrying"},
        503: {"description": "run-orchestrator is unreachable; nothing was written"},
        504: {"description": "run-orchestrator did not answer in time; read back first"},
    },
)
async def create_run(
    request: Request, writes: Writes, settings: Settings, body: CreateRunRequest
) -> Response:
    """Validated here with the model run-orchestrator validates with, then forwarded as sent."""
    target = _run_target(settings, "/runs", id_fields=("run_id", "id"), location=RUN_LOCATION)
    return await writes.forward(request, target)


@router.post(
    "/{run_id}/retry",
    response_model=RunOut,
    status_code=201,
    summary="Retry the failed calls of a finished run",
    responses={
        201: {"description": "A new run (`retry_of`) that makes only the failed calls again"},
        404: {"description": "No such run"},
        409: {
            "description": "Still running (`run_unfinished`) or nothing failed (`nothing_to_retry`)"
        },
        503: {"description": "run-orchestrator is unreachable; nothing was written"},
    },
)
async def retry_failed(
    request: Request, run_id: RunId, writes: Writes, settings: Settings
) -> Response:
    target = _run_target(
        settings, f"/runs/{run_id}/retry", id_fields=("run_id",), location=RUN_LOCATION
    )
    return await writes.forward(request, target)


@router.post(
    "/{run_id}/cancel",
    response_model=RunOut,
    status_code=202,
    summary="Cancel a test run",
    responses={
        202: {
            "description": "Cancelled (a queued run: `status` is `cancelled`), or being stopped "
            "(a running run: no new call starts within a second; the results already recorded "
            "are kept, and `status` becomes `cancelled` shortly)"
        },
        404: {"description": "No such run"},
        409: {"description": "The run has already finished (`rule`: run_finished)"},
        503: {"description": "run-orchestrator is unreachable; nothing was changed"},
    },
)
async def cancel_run(
    request: Request, run_id: RunId, writes: Writes, settings: Settings
) -> Response:
    target = _run_target(settings, f"/runs/{run_id}/cancel", resource_id=run_id)
    return await writes.forward(request, target)


RUN_LOCATION = "/api/v1/test_prompt/{id}"


def _run_target(settings: QueryApiSettings, path: str, **naming: Any) -> WriteTarget:
    """A write on run-orchestrator answered with the projected run (read your writes)."""
    return WriteTarget(
        service="run-orchestrator",
        url=f"{settings.run_orchestrator_url.rstrip('/')}{path}",
        topic=RUN_EVENTS,
        read=queries.get_run,
        **naming,
    )
