"""/api/v1/batches: matrices of runs (prompt versions x models x parameter sets); creation
forwarded to run-orchestrator, progress read from the runs' read model."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response

from promptworks_contracts.api.runs import CreateBatchRequest
from promptworks_contracts.topics import RUN_EVENTS
from promptworks_eventkit.errors import NotFoundError
from query_api.api import paging
from query_api.api.deps import CURSOR_HEADERS, Project, ReadSession, Settings, Writes
from query_api.api.forwarded import WRITE_RESPONSES
from query_api.api.ownership import owned
from query_api.queries import batches as queries
from query_api.schemas.batches import BatchOut
from query_api.tables import batches
from query_api.writes import WriteTarget

router = APIRouter(
    prefix="/batches", tags=["batches"], dependencies=[owned(batches, "batch_id", "batch")]
)

BatchId = Annotated[UUID, Path(description="The batch's id")]


@router.get(
    "",
    response_model=list[BatchOut],
    responses={200: {"headers": CURSOR_HEADERS}},
    summary="List batches",
)
async def list_batches(
    session: ReadSession,
    project: Project,
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: paging.Offset = 0,
    cursor: paging.CursorParam = None,
) -> list[BatchOut]:
    """Newest first, each with its cells' progress."""
    first = paging.start(request, "batches", offset, cursor)
    total, items = await queries.list_batches(session, project, limit, first)
    paging.finish(response, request, "batches", first, len(items), total)
    return items


@router.get("/{batch_id}", response_model=BatchOut, summary="One batch with its matrix")
async def get_batch(session: ReadSession, batch_id: BatchId) -> BatchOut:
    batch = await queries.get_batch(session, batch_id)
    if batch is None:
        raise NotFoundError(f"batch {batch_id} does not exist", field="batch_id")
    return batch


@router.post(
    "",
    status_code=201,
    response_model=BatchOut,
    summary="Start a batch: one run per (version, model, parameter set)",
    responses=WRITE_RESPONSES,
)
async def create_batch(
    request: Request, writes: Writes, settings: Settings, body: CreateBatchRequest
) -> Response:
    """`versions` (each a `prompt_version_id`, or `prompt_id` + `label`) x `models` x
    `parameter_sets` over what every run shares (cases, repetitions, assertions, budget per
    run). At most 100 cells and 1,000,000 calls."""
    target = WriteTarget(
        service="run-orchestrator",
        url=f"{settings.run_orchestrator_url.rstrip('/')}/batches",
        topic=RUN_EVENTS,
        read=queries.get_batch,
        id_fields=("batch_id",),
        location="/api/v1/batches/{id}",
    )
    return await writes.forward(request, target)
