"""The prompt resource's commands. Reads are served by query-api, not here.

Every write answers with ``positions`` (each stream it appended to) and an ``ETag`` holding the
prompt stream's version; every write to an existing prompt honours ``If-Match``.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Response

from prompt_service.api.common import Actor, Prompts, command
from prompt_service.api.prompt_responses import prompt_written, version_created
from prompt_service.api.schemas import (
    CreatePromptRequest,
    CreateVersionRequest,
    EditPromptRequest,
    MessageRequest,
    PromptResponse,
    UpdatePromptRequest,
    VersionCreatedResponse,
    VersionTargetRequest,
    class_ref,
    tag_refs,
    version_content,
    version_target,
)
from prompt_service.domain.commands import (
    ArchivePrompt,
    ClassRef,
    CreatePrompt,
    CreateVersion,
    EditPrompt,
    MoveLabel,
    RemoveLabel,
    RestorePrompt,
    SetCurrentVersion,
    TagRefs,
    UpdatePrompt,
)
from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.http import Context, ExpectedVersion

router = APIRouter(prefix="/prompts", tags=["prompts"])

OptionalMessage = Annotated[MessageRequest | None, Body()]


@router.post("", status_code=201, response_model=VersionCreatedResponse)
async def create_prompt(
    body: CreatePromptRequest, handlers: Prompts, context: Context, actor: Actor, response: Response
) -> VersionCreatedResponse:
    """Creates a prompt and its version 1 (and the class, when ``class_name`` is new)."""
    cmd = command(
        lambda: CreatePrompt(
            actor=actor,
            name=body.name,
            description=body.description,
            author=body.author,
            class_ref=class_ref(body) or ClassRef(),
            tags=tag_refs(body) or TagRefs(),
            first_version=version_content(body, body.author),
        )
    )
    return version_created(await handlers.create_prompt(cmd, context), response)


@router.post("/{prompt_id}/versions", status_code=201, response_model=VersionCreatedResponse)
async def create_version(
    prompt_id: UUID,
    body: CreateVersionRequest,
    handlers: Prompts,
    context: Context,
    actor: Actor,
    expected: ExpectedVersion,
    response: Response,
) -> VersionCreatedResponse:
    """A new immutable version; it becomes the current version, ``latest`` moves to it."""
    cmd = command(
        lambda: CreateVersion(
            actor=actor,
            prompt_id=prompt_id,
            content=version_content(body, body.author).model_copy(update={"origin": body.origin}),
            expected_version=expected,
        )
    )
    return version_created(await handlers.create_version(cmd, context), response)


def _edit(prompt_id: UUID, body: EditPromptRequest, actor: str, expected: int | None) -> EditPrompt:
    return command(
        lambda: EditPrompt(
            actor=actor,
            prompt_id=prompt_id,
            expected_version=expected,
            name=body.name,
            description=body.description,
            author=body.author,
            class_ref=class_ref(body),
            tags=tag_refs(body),
            message=body.message,
        )
    )


@router.patch("/{prompt_id}", response_model=PromptResponse)
async def edit_prompt(
    prompt_id: UUID,
    body: EditPromptRequest,
    handlers: Prompts,
    context: Context,
    actor: Actor,
    expected: ExpectedVersion,
    response: Response,
) -> PromptResponse:
    """Edits metadata; nothing changed: no event, ``positions`` empty."""
    cmd = _edit(prompt_id, body, actor, expected)
    return prompt_written(await handlers.edit_prompt(cmd, context), response)


@router.put("/{prompt_id}", response_model=PromptResponse)
async def update_prompt(
    prompt_id: UUID,
    body: UpdatePromptRequest,
    handlers: Prompts,
    context: Context,
    actor: Actor,
    expected: ExpectedVersion,
    response: Response,
) -> PromptResponse:
    """Metadata as PATCH, ``content``/``messages`` for a new version, ``activate_version_id``
    for a rollback: every resulting event in one append."""
    version_only = {"version", "variables", "model", "parameters", "commit_message"}
    if not body.has_content() and version_only & body.model_fields_set:
        raise DomainError(
            "a new version needs its content (or messages)", field="content", rule="missing"
        )
    cmd = command(
        lambda: UpdatePrompt(
            edit=_edit(prompt_id, body, actor, expected),
            new_version=version_content(body, body.author or "") if body.has_content() else None,
            activate_version_id=body.activate_version_id,
        )
    )
    return prompt_written(await handlers.update_prompt(cmd, context), response)


@router.put("/{prompt_id}/labels/{label}", response_model=PromptResponse)
async def move_label(
    prompt_id: UUID,
    label: str,
    body: VersionTargetRequest,
    handlers: Prompts,
    context: Context,
    actor: Actor,
    expected: ExpectedVersion,
    response: Response,
) -> PromptResponse:
    """Points a label (``production``, ``staging``, ...) at a version; ``latest`` is reserved."""
    cmd = command(
        lambda: MoveLabel(
            actor=actor,
            prompt_id=prompt_id,
            label=label,
            target=version_target(body),
            message=body.message,
            expected_version=expected,
        )
    )
    return prompt_written(await handlers.move_label(cmd, context), response)


@router.delete("/{prompt_id}/labels/{label}", response_model=PromptResponse)
async def remove_label(
    prompt_id: UUID,
    label: str,
    handlers: Prompts,
    context: Context,
    actor: Actor,
    expected: ExpectedVersion,
    response: Response,
    body: OptionalMessage = None,
) -> PromptResponse:
    cmd = command(
        lambda: RemoveLabel(
            actor=actor,
            prompt_id=prompt_id,
            label=label,
            message=body.message if body else "",
            expected_version=expected,
        )
    )
    return prompt_written(await handlers.remove_label(cmd, context), response)


@router.post("/{prompt_id}/rollback", response_model=PromptResponse)
async def rollback(
    prompt_id: UUID,
    body: VersionTargetRequest,
    handlers: Prompts,
    context: Context,
    actor: Actor,
    expected: ExpectedVersion,
    response: Response,
) -> PromptResponse:
    """Sets the prompt's current version to an existing one (no event if it already is)."""
    cmd = command(
        lambda: SetCurrentVersion(
            actor=actor,
            prompt_id=prompt_id,
            target=version_target(body),
            message=body.message,
            expected_version=expected,
        )
    )
    return prompt_written(await handlers.set_current_version(cmd, context), response)


@router.post("/{prompt_id}/archive", response_model=PromptResponse)
@router.delete("/{prompt_id}", response_model=PromptResponse)
async def archive(
    prompt_id: UUID,
    handlers: Prompts,
    context: Context,
    actor: Actor,
    expected: ExpectedVersion,
    response: Response,
    body: OptionalMessage = None,
) -> PromptResponse:
    """Archives the prompt (DELETE does the same: history is never deleted)."""
    message = body.message if body else ""
    cmd = command(
        lambda: ArchivePrompt(
            actor=actor, prompt_id=prompt_id, message=message, expected_version=expected
        )
    )
    return prompt_written(await handlers.archive(cmd, context), response)


@router.post("/{prompt_id}/restore", response_model=PromptResponse)
async def restore(
    prompt_id: UUID,
    handlers: Prompts,
    context: Context,
    actor: Actor,
    expected: ExpectedVersion,
    response: Response,
    body: OptionalMessage = None,
) -> PromptResponse:
    message = body.message if body else ""
    cmd = command(
        lambda: RestorePrompt(
            actor=actor, prompt_id=prompt_id, message=message, expected_version=expected
        )
    )
    return prompt_written(await handlers.restore(cmd, context), response)
