"""/api/v1/evaluators: evaluator definitions (named, versioned sets of assertions and judges)
read from the read models; writes forwarded to the evaluator, which owns them."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response

from promptworks_contracts.api.evaluators import (
    CreateEvaluatorRequest,
    CreateEvaluatorVersionRequest,
)
from promptworks_eventkit.errors import NotFoundError
from promptworks_eventkit.http import MAX_INT32
from query_api.api import paging
from query_api.api.deps import CURSOR_HEADERS, Project, ReadSession, Settings, Writes
from query_api.api.forwarded import WRITE_RESPONSES, evaluator_target
from query_api.api.ownership import owned
from query_api.queries import evaluators as queries
from query_api.schemas.evaluators import (
    EvaluatorChangeOut,
    EvaluatorOut,
    EvaluatorSummaryOut,
    EvaluatorVersionOut,
)
from query_api.tables import evaluators

router = APIRouter(
    prefix="/evaluators",
    tags=["evaluators"],
    # Another project's evaluator answers the 404 of one that does not exist (ADR 0017).
    dependencies=[owned(evaluators, "evaluator_id", "evaluator")],
)

EvaluatorId = Annotated[UUID, Path(description="The evaluator's id")]
Limit = Annotated[int, Query(ge=1, le=200)]


def _missing(evaluator_id: UUID) -> NotFoundError:
    return NotFoundError(f"evaluator {evaluator_id} does not exist", field="evaluator_id")


@router.get(
    "",
    response_model=list[EvaluatorSummaryOut],
    responses={200: {"headers": CURSOR_HEADERS}},
    summary="Evaluator definitions",
)
async def list_evaluators(
    session: ReadSession,
    project: Project,
    request: Request,
    response: Response,
    q: Annotated[str | None, Query(max_length=200, description="Fuzzy search on name")] = None,
    limit: Limit = 50,
    offset: paging.Offset = 0,
    cursor: paging.CursorParam = None,
) -> list[EvaluatorSummaryOut]:
    """By name; best match first with ``q``."""
    first = paging.start(request, "evaluators", offset, cursor)
    total, items = await queries.list_evaluators(session, project, q, limit, first)
    paging.finish(response, request, "evaluators", first, len(items), total)
    return items


@router.get("/{evaluator_id}", summary="One evaluator with its latest version")
async def get_evaluator(session: ReadSession, evaluator_id: EvaluatorId) -> EvaluatorOut:
    found = await queries.get_evaluator(session, evaluator_id)
    if found is None:
        raise _missing(evaluator_id)
    return found


@router.get(
    "/{evaluator_id}/versions",
    response_model=list[EvaluatorVersionOut],
    responses={200: {"headers": CURSOR_HEADERS}},
    summary="An evaluator's versions, newest first",
)
async def list_versions(
    session: ReadSession,
    request: Request,
    response: Response,
    evaluator_id: EvaluatorId,
    limit: Limit = 50,
    offset: paging.Offset = 0,
    cursor: paging.CursorParam = None,
) -> list[EvaluatorVersionOut]:
    if await queries.get_evaluator(session, evaluator_id) is None:
        raise _missing(evaluator_id)
    first = paging.start(request, "evaluator_versions", offset, cursor)
    total, items = await queries.list_versions(session, evaluator_id, limit, first)
    paging.finish(response, request, "evaluator_versions", first, len(items), total)
    return items


@router.get("/{evaluator_id}/versions/{version}", summary="One version in full")
async def get_version(
    session: ReadSession,
    evaluator_id: EvaluatorId,
    version: Annotated[int, Path(ge=1, le=MAX_INT32)],
) -> EvaluatorVersionOut:
    found = await queries.get_version(session, evaluator_id, version)
    if found is None:
        if await queries.get_evaluator(session, evaluator_id) is None:
            raise _missing(evaluator_id)
        raise NotFoundError(f"evaluator {evaluator_id} has no version {version}", field="version")
    return found


@router.get(
    "/{evaluator_id}/history",
    response_model=list[EvaluatorChangeOut],
    responses={200: {"headers": CURSOR_HEADERS}},
    summary="Every change: the creation, then each version (who, why, when)",
)
async def evaluator_history(
    session: ReadSession,
    request: Request,
    response: Response,
    evaluator_id: EvaluatorId,
    limit: Limit = 50,
    offset: paging.Offset = 0,
    cursor: paging.CursorParam = None,
) -> list[EvaluatorChangeOut]:
    first = paging.start(request, "evaluator_history", offset, cursor)
    found = await queries.history(session, evaluator_id, limit, first)
    if found is None:
        raise _missing(evaluator_id)
    total, items = found
    paging.finish(response, request, "evaluator_history", first, len(items), total)
    return items


@router.post(
    "",
    status_code=201,
    response_model=EvaluatorOut,
    summary="Define an evaluator (its version 1)",
    responses=WRITE_RESPONSES,
)
async def create_evaluator(
    request: Request, writes: Writes, settings: Settings, body: CreateEvaluatorRequest
) -> Response:
    """A unique name (409 otherwise) and assertions, validated as a run's are (422 naming
    ``assertions.<i>...``)."""
    target = evaluator_target(
        request,
        settings,
        queries.get_evaluator,
        id_fields=("evaluator_id",),
        location="/api/v1/evaluators/{id}",
    )
    return await writes.forward(request, target)


@router.post(
    "/{evaluator_id}/versions",
    status_code=201,
    response_model=EvaluatorOut,
    summary="Add a version (it becomes the latest; earlier ones are kept)",
    responses=WRITE_RESPONSES,
)
async def create_version(
    request: Request,
    writes: Writes,
    settings: Settings,
    evaluator_id: EvaluatorId,
    body: CreateEvaluatorVersionRequest,
) -> Response:
    """Assertions equal to the latest version's add nothing (a retried request is harmless).
    ``If-Match: "<stream_version>"`` refuses the write (409) if someone else added one."""
    target = evaluator_target(request, settings, queries.get_evaluator, resource_id=evaluator_id)
    return await writes.forward(request, target)
