"""/api/v1/prompt-tags: reads from the read models; writes forwarded to prompt-service."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response

from promptworks_contracts.api.taxonomy import CreateTagRequest, UpdateTagRequest
from promptworks_eventkit.errors import NotFoundError
from query_api.api import paging
from query_api.api.deps import CURSOR_HEADERS, Project, ReadSession, Settings, Writes
from query_api.api.forwarded import WRITE_RESPONSES, prompt_service_target
from query_api.api.ownership import owned
from query_api.queries import catalog
from query_api.schemas.prompts import TagList, TagOut
from query_api.tables import prompt_tags

router = APIRouter(
    prefix="/prompt-tags",
    tags=["prompt tags"],
    dependencies=[owned(prompt_tags, "tag_id", "tag")],
)

TagId = Annotated[UUID, Path(description="The tag's id")]


@router.get(
    "",
    responses={200: {"headers": CURSOR_HEADERS}},
    summary="Every tag with how many prompts use it (archived ones excluded)",
)
async def list_tags(
    session: ReadSession,
    project: Project,
    request: Request,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    offset: paging.Offset = 0,
    cursor: paging.CursorParam = None,
) -> TagList:
    """By name, in the original shape (``items``, ``tagged_prompt_total``)."""
    first = paging.start(request, "tags", offset, cursor)
    total, tags = await catalog.list_tags(session, project, limit, first)
    paging.finish(response, request, "tags", first, len(tags.items), total)
    return tags


@router.get("/{tag_id}", summary="One tag")
async def get_tag(session: ReadSession, project: Project, tag_id: TagId) -> TagOut:
    found = await catalog.get_tag(session, project, tag_id)
    if found is None:
        raise NotFoundError(f"tag {tag_id} does not exist", field="tag_id")
    return found


@router.post(
    "",
    status_code=201,
    response_model=TagOut,
    summary="Create a tag",
    responses=WRITE_RESPONSES,
)
async def create_tag(
    request: Request, writes: Writes, settings: Settings, project: Project, body: CreateTagRequest
) -> Response:
    target = prompt_service_target(
        request,
        settings,
        lambda session, tag_id: catalog.get_tag(session, project, tag_id),
        id_fields=("tag_id",),
        location="/api/v1/prompt-tags/{id}",
    )
    return await writes.forward(request, target)


@router.patch(
    "/{tag_id}",
    response_model=TagOut,
    summary="Rename a tag or change its colour",
    responses=WRITE_RESPONSES,
)
async def update_tag(
    request: Request,
    writes: Writes,
    settings: Settings,
    project: Project,
    tag_id: TagId,
    body: UpdateTagRequest,
) -> Response:
    target = prompt_service_target(
        request,
        settings,
        lambda session, tag_id: catalog.get_tag(session, project, tag_id),
        resource_id=tag_id,
    )
    return await writes.forward(request, target)


@router.delete(
    "/{tag_id}",
    status_code=204,
    summary="Delete a tag (in use: 409 unless ?detach=true removes it from its prompts first)",
    responses=WRITE_RESPONSES,
)
async def delete_tag(
    request: Request,
    writes: Writes,
    settings: Settings,
    tag_id: TagId,
    detach: Annotated[bool, Query(description="Remove the tag from its prompts first")] = False,
) -> Response:
    target = prompt_service_target(request, settings, None, resource_id=tag_id)
    return await writes.forward(request, target)
