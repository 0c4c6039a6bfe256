"""/api/v1/prompt-classes: reads from the read models; writes forwarded to prompt-service."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response

from promptworks_contracts.api.taxonomy import CreateClassRequest, UpdateClassRequest
from promptworks_eventkit.errors import NotFoundError
from query_api.api import paging
from query_api.api.deps import CURSOR_HEADERS, Project, ReadSession, Settings, Writes
from query_api.api.forwarded import WRITE_RESPONSES, prompt_service_target
from query_api.api.ownership import owned
from query_api.queries import catalog
from query_api.schemas.prompts import ClassOut
from query_api.tables import prompt_classes

router = APIRouter(
    prefix="/prompt-classes",
    tags=["prompt classes"],
    dependencies=[owned(prompt_classes, "class_id", "class")],
)

ClassId = Annotated[UUID, Path(description="The class's id")]


@router.get(
    "",
    response_model=list[ClassOut],
    responses={200: {"headers": CURSOR_HEADERS}},
    summary="Classes with how many prompts each holds",
)
async def list_classes(
    session: ReadSession,
    project: Project,
    request: Request,
    response: Response,
    q: Annotated[str | None, Query(max_length=200, description="Fuzzy search on name")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: paging.Offset = 0,
    cursor: paging.CursorParam = None,
) -> list[ClassOut]:
    """By name; best match first with ``q``. Counts exclude archived prompts."""
    first = paging.start(request, "classes", offset, cursor)
    total, items = await catalog.list_classes(session, project, q, limit, first)
    paging.finish(response, request, "classes", first, len(items), total)
    return items


@router.get("/{class_id}", summary="One class")
async def get_class(session: ReadSession, project: Project, class_id: ClassId) -> ClassOut:
    found = await catalog.get_class(session, project, class_id)
    if found is None:
        raise NotFoundError(f"class {class_id} does not exist", field="class_id")
    return found


@router.post(
    "",
    status_code=201,
    response_model=ClassOut,
    summary="Create a class",
    responses=WRITE_RESPONSES,
)
async def create_class(
    request: Request,
    writes: Writes,
    settings: Settings,
    project: Project,
    body: CreateClassRequest,
) -> Response:
    target = prompt_service_target(
        request,
        settings,
        lambda session, class_id: catalog.get_class(session, project, class_id),
        id_fields=("class_id",),
        location="/api/v1/prompt-classes/{id}",
    )
    return await writes.forward(request, target)


@router.patch(
    "/{class_id}",
    response_model=ClassOut,
    summary="Rename a class or change its description",
    responses=WRITE_RESPONSES,
)
async def update_class(
    request: Request,
    writes: Writes,
    settings: Settings,
    project: Project,
    class_id: ClassId,
    body: UpdateClassRequest,
) -> Response:
    target = prompt_service_target(
        request,
        settings,
        lambda session, class_id: catalog.get_class(session, project, class_id),
        resource_id=class_id,
    )
    return await writes.forward(request, target)


@router.delete(
    "/{class_id}",
    status_code=204,
    summary="Delete a class (in use: 409 unless ?detach=true moves its prompts out first)",
    responses=WRITE_RESPONSES,
)
async def delete_class(
    request: Request,
    writes: Writes,
    settings: Settings,
    class_id: ClassId,
    detach: Annotated[bool, Query(description="Move the class's prompts out first")] = False,
) -> Response:
    target = prompt_service_target(request, settings, None, resource_id=class_id)
    return await writes.forward(request, target)
