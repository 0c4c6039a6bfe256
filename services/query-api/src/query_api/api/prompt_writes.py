"""/api/v1/prompts writes: forwarded 1:1 to prompt-service, answered with the projected prompt.

Headers forwarded: If-Match (expected stream version), X-Actor (who), X-Correlation-ID and
traceparent. See ``query_api.writes`` for the outcomes.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Request, Response

from query_api.api.deps import Settings, Writes
from query_api.api.forwarded import WRITE_RESPONSES, body_doc, prompt_service_target
from query_api.api.prompt_schemas import PromptOut
from query_api.queries.prompt_reads import get_prompt

router = APIRouter(prefix="/prompts", tags=["prompts"])

PromptId = Annotated[UUID, Path(description="The prompt's id")]
Label = Annotated[str, Path(description="e.g. production, staging")]

CREATE_EXAMPLE: dict[str, Any] = {
    "name": "greeting",
    "description": "Greets a user by name",
    "author": "ann",
    "class_name": "demo",
    "tags": ["onboarding"],
    "version": "v1",
    "content": "Say hello to {{ name }}",
    "variables": [{"name": "name"}],
    "commit_message": "first version",
}


@router.post(
    "",
    status_code=201,
    response_model=PromptOut,
    summary="Create a prompt with its first version",
    responses=WRITE_RESPONSES,
    openapi_extra=body_doc(
        "name, description, author, class_name | class_id, tags | tag_ids, version, "
        "content (text) | messages (chat), variables, model, parameters, commit_message",
        CREATE_EXAMPLE,
    ),
)
async def create_prompt(request: Request, writes: Writes, settings: Settings) -> Response:
    target = prompt_service_target(
        request,
        settings,
        get_prompt,
        id_fields=("prompt_id",),
        location="/api/v1/prompts/{id}",
    )
    return await writes.forward(request, target)


async def _on_prompt(
    request: Request, writes: Writes, settings: Settings, prompt_id: UUID
) -> Response:
    target = prompt_service_target(request, settings, get_prompt, resource_id=prompt_id)
    return await writes.forward(request, target)


@router.post(
    "/{prompt_id}/versions",
    status_code=201,
    response_model=PromptOut,
    summary="Add a version (it becomes the current one)",
    responses=WRITE_RESPONSES,
    openapi_extra=body_doc(
        "version, content | messages, variables, model, parameters, commit_message, author"
    ),
)
async def create_version(
    request: Request, writes: Writes, settings: Settings, prompt_id: PromptId
) -> Response:
    return await _on_prompt(request, writes, settings, prompt_id)


@router.patch(
    "/{prompt_id}",
    response_model=PromptOut,
    summary="Edit metadata: name, description, author, class, tags",
    responses=WRITE_RESPONSES,
    openapi_extra=body_doc(
        "any of name, description, author, class_id | class_name, tag_ids | tags, message"
    ),
)
async def edit_prompt(
    request: Request, writes: Writes, settings: Settings, prompt_id: PromptId
) -> Response:
    return await _on_prompt(request, writes, settings, prompt_id)


@router.put(
    "/{prompt_id}",
    response_model=PromptOut,
    summary="The original combined update: metadata, a new version, activate_version_id",
    responses=WRITE_RESPONSES,
    openapi_extra=body_doc("metadata as PATCH, plus version + content, activate_version_id"),
)
async def update_prompt(
    request: Request, writes: Writes, settings: Settings, prompt_id: PromptId
) -> Response:
    return await _on_prompt(request, writes, settings, prompt_id)


@router.delete(
    "/{prompt_id}",
    response_model=PromptOut,
    summary="Archive the prompt (history is never deleted)",
    responses=WRITE_RESPONSES,
)
async def delete_prompt(
    request: Request, writes: Writes, settings: Settings, prompt_id: PromptId
) -> Response:
    return await _on_prompt(request, writes, settings, prompt_id)


@router.put(
    "/{prompt_id}/labels/{label}",
    response_model=PromptOut,
    summary="Point a label (production, staging, ...) at a version",
    responses=WRITE_RESPONSES,
    openapi_extra=body_doc("version_number | version_id, message", {"version_number": 2}),
)
async def move_label(
    request: Request, writes: Writes, settings: Settings, prompt_id: PromptId, label: Label
) -> Response:
    return await _on_prompt(request, writes, settings, prompt_id)


@router.delete(
    "/{prompt_id}/labels/{label}",
    response_model=PromptOut,
    summary="Remove a label",
    responses=WRITE_RESPONSES,
)
async def remove_label(
    request: Request, writes: Writes, settings: Settings, prompt_id: PromptId, label: Label
) -> Response:
    return await _on_prompt(request, writes, settings, prompt_id)


@router.post(
    "/{prompt_id}/rollback",
    response_model=PromptOut,
    summary="Make an earlier (or later) version the current one",
    responses=WRITE_RESPONSES,
    openapi_extra=body_doc("version_number | version_id, message", {"version_number": 1}),
)
async def rollback(
    request: Request, writes: Writes, settings: Settings, prompt_id: PromptId
) -> Response:
    return await _on_prompt(request, writes, settings, prompt_id)


@router.post(
    "/{prompt_id}/archive",
    response_model=PromptOut,
    summary="Archive: hidden from default lists, history kept",
    responses=WRITE_RESPONSES,
    openapi_extra=body_doc("message (optional)"),
)
async def archive(
    request: Request, writes: Writes, settings: Settings, prompt_id: PromptId
) -> Response:
    return await _on_prompt(request, writes, settings, prompt_id)


@router.post(
    "/{prompt_id}/restore",
    response_model=PromptOut,
    summary="Restore an archived prompt",
    responses=WRITE_RESPONSES,
    openapi_extra=body_doc("message (optional)"),
)
async def restore(
    request: Request, writes: Writes, settings: Settings, prompt_id: PromptId
) -> Response:
    return await _on_prompt(request, writes, settings, prompt_id)
