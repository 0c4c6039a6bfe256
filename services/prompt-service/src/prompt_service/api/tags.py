"""The prompt-tag resource's commands (create, rename or recolour, delete)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query, Response

from prompt_service.api.common import Actor, Taxonomy, command, written
from prompt_service.api.taxonomy_schemas import (
    CreateTagRequest,
    TagResponse,
    UpdateTagRequest,
)
from prompt_service.domain.commands import CreateTag, DeleteTag, UpdateTag
from prompt_service.handlers.taxonomy import TagWritten
from promptworks_eventkit.http import Context, ExpectedVersion

router = APIRouter(prefix="/prompt-tags", tags=["prompt tags"])


def _response(result: TagWritten, response: Response) -> TagResponse:
    state = result.state
    assert state.tag_id is not None
    return TagResponse(
        tag_id=state.tag_id,
        name=state.name,
        color=state.color,
        deleted=state.deleted,
        detached_prompt_ids=result.detached,
        stream_version=state.version,
        positions=written(response, state.version, result.positions),
    )


@router.post("", status_code=201, response_model=TagResponse)
async def create_tag(
    body: CreateTagRequest, handlers: Taxonomy, context: Context, actor: Actor, response: Response
) -> TagResponse:
    """A new tag (name and colour #RRGGBB); its name must be unused (409 otherwise)."""
    cmd = command(lambda: CreateTag(actor=actor, name=body.name, color=body.color))
    return _response(await handlers.create_tag(cmd, context), response)


@router.patch("/{tag_id}", response_model=TagResponse)
async def update_tag(
    tag_id: UUID,
    body: UpdateTagRequest,
    handlers: Taxonomy,
    context: Context,
    actor: Actor,
    expected: ExpectedVersion,
    response: Response,
) -> TagResponse:
    """Renames and/or recolours the tag (nothing changed: no event)."""
    cmd = command(
        lambda: UpdateTag(
            actor=actor,
            tag_id=tag_id,
            name=body.name,
            color=body.color,
            expected_version=expected,
        )
    )
    return _response(await handlers.update_tag(cmd, context), response)


@router.delete("/{tag_id}", response_model=TagResponse)
async def delete_tag(
    tag_id: UUID,
    handlers: Taxonomy,
    context: Context,
    actor: Actor,
    expected: ExpectedVersion,
    response: Response,
    detach: bool = Query(False, description="Remove the tag from every prompt first"),
) -> TagResponse:
    """Deletes an unused tag (409 ``in_use`` otherwise), or with ``?detach=true`` removes it
    from each prompt first (one edit each), all in one transaction."""
    cmd = command(
        lambda: DeleteTag(actor=actor, tag_id=tag_id, detach=detach, expected_version=expected)
    )
    return _response(await handlers.delete_tag(cmd, context), response)
