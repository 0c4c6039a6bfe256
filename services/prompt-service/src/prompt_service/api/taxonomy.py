"""The prompt-class resource's commands (create, rename or describe, delete)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query, Response

from prompt_service.api.common import Actor, Taxonomy, command, written
from prompt_service.api.taxonomy_schemas import (
    ClassResponse,
    CreateClassRequest,
    UpdateClassRequest,
)
from prompt_service.domain.commands import CreateClass, DeleteClass, UpdateClass
from prompt_service.handlers.taxonomy import ClassWritten
from promptworks_eventkit.http import Context, ExpectedVersion

router = APIRouter(prefix="/prompt-classes", tags=["prompt classes"])


def _response(result: ClassWritten, response: Response) -> ClassResponse:
    state = result.state
    assert state.class_id is not None
    return ClassResponse(
        class_id=state.class_id,
        name=state.name,
        description=state.description,
        deleted=state.deleted,
        detached_prompt_ids=result.detached,
        stream_version=state.version,
        positions=written(response, state.version, result.positions),
    )


@router.post("", status_code=201, response_model=ClassResponse)
async def create_class(
    body: CreateClassRequest, handlers: Taxonomy, context: Context, actor: Actor, response: Response
) -> ClassResponse:
    """A new class; its name must be unused (409 otherwise)."""
    cmd = command(lambda: CreateClass(actor=actor, name=body.name, description=body.description))
    return _response(await handlers.create_class(cmd, context), response)


@router.patch("/{class_id}", response_model=ClassResponse)
async def update_class(
    class_id: UUID,
    body: UpdateClassRequest,
    handlers: Taxonomy,
    context: Context,
    actor: Actor,
    expected: ExpectedVersion,
    response: Response,
) -> ClassResponse:
    """Renames the class and/or changes its description (nothing changed: no event)."""
    cmd = command(
        lambda: UpdateClass(
            actor=actor,
            class_id=class_id,
            name=body.name,
            description=body.description,
            expected_version=expected,
        )
    )
    return _response(await handlers.update_class(cmd, context), response)


@router.delete("/{class_id}", response_model=ClassResponse)
async def delete_class(
    class_id: UUID,
    handlers: Taxonomy,
    context: Context,
    actor: Actor,
    expected: ExpectedVersion,
    response: Response,
    detach: bool = Query(False, description="Move every prompt out of the class first"),
) -> ClassResponse:
    """Deletes an unused class (409 ``in_use`` otherwise), or with ``?detach=true`` edits each
    prompt out of it first, all in one transaction."""
    cmd = command(
        lambda: DeleteClass(
            actor=actor, class_id=class_id, detach=detach, expected_version=expected
        )
    )
    return _response(await handlers.delete_class(cmd, context), response)
