"""/api/v1/prompts writes: forwarded 1:1 to prompt-service, answered with the projected prompt.

Headers forwarded: If-Match (expected stream version), X-Actor (who), X-Correlation-ID and
traceparent. See ``query_api.writes`` for the outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Request, Response

from query_api.api.deps import Settings, Writes
from query_api.api.forwarded import WRITE_RESPONSES, body_doc, prompt_service_target
from query_api.queries.prompt_reads import get_prompt
from query_api.schemas.prompts import PromptOut

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


async def _on_prompt_endpoint(
    request: Request, writes: Writes, settings: Settings, prompt_id: PromptId
) -> Response:
    return await _on_prompt(request, writes, settings, prompt_id)


async def _on_label_endpoint(
    request: Request, writes: Writes, settings: Settings, prompt_id: PromptId, label: Label
) -> Response:
    # ``label`` is declared for validation and the OpenAPI document; prompt-service reads it
    # from the forwarded path.
    return await _on_prompt(request, writes, settings, prompt_id)


@dataclass(frozen=True)
class PromptWrite:
    """One forwarded write on an existing prompt, answered with the projected prompt."""

    method: str
    path: str
    summary: str
    body: str | None = None
    example: dict[str, Any] | None = None
    status_code: int = 200


# Every write on an existing prompt, on one screen. All are forwarded 1:1 to prompt-service.
PROMPT_WRITES = (
    PromptWrite(
        "POST",
        "/{prompt_id}/versions",
        "Add a version (it becomes the current one)",
        "version, content | messages, variables, model, parameters, commit_message, author",
        status_code=201,
    ),
    PromptWrite(
        "PATCH",
        "/{prompt_id}",
        "Edit metadata: name, description, author, class, tags",
        "any of name, description, author, class_id | class_name, tag_ids | tags, message",
    ),
    PromptWrite(
        "PUT",
        "/{prompt_id}",
        "The original combined update: metadata, a new version, activate_version_id",
        "metadata as PATCH, plus version + content, activate_version_id",
    ),
    PromptWrite("DELETE", "/{prompt_id}", "Archive the prompt (history is never deleted)"),
    PromptWrite(
        "PUT",
        "/{prompt_id}/labels/{label}",
        "Point a label (production, staging, ...) at a version",
        "version_number | version_id, message",
        {"version_number": 2},
    ),
    PromptWrite("DELETE", "/{prompt_id}/labels/{label}", "Remove a label"),
    PromptWrite(
        "POST",
        "/{prompt_id}/rollback",
        "Make an earlier (or later) version the current one",
        "version_number | version_id, message",
        {"version_number": 1},
    ),
    PromptWrite(
        "POST",
        "/{prompt_id}/archive",
        "Archive: hidden from default lists, history kept",
        "message (optional)",
    ),
    PromptWrite("POST", "/{prompt_id}/restore", "Restore an archived prompt", "message (optional)"),
)

for write in PROMPT_WRITES:
    router.add_api_route(
        write.path,
        _on_label_endpoint if "{label}" in write.path else _on_prompt_endpoint,
        methods=[write.method],
        status_code=write.status_code,
        response_model=PromptOut,
        summary=write.summary,
        responses=WRITE_RESPONSES,
        openapi_extra=body_doc(write.body, write.example) if write.body else None,
        name=f"{write.method.lower()} {write.path}",
    )
