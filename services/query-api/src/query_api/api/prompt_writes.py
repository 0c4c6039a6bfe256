"""/api/v1/prompts writes: forwarded 1:1 to prompt-service, answered with the projected prompt.

Bodies are the public API's request models (``promptworks_contracts.api.prompts``), the ones
prompt-service validates: declared here so the document types them and a body that breaks a
field rule is refused without a round trip; the rules between fields are prompt-service's.

Headers forwarded: If-Match (expected stream version), X-Actor (who), X-Correlation-ID and
traceparent. See ``query_api.writes`` for the outcomes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Path, Request, Response

from promptworks_contracts.api.prompts import (
    CreatePromptRequest,
    CreateVersionRequest,
    EditPromptRequest,
    MessageRequest,
    UpdatePromptRequest,
    VersionTargetRequest,
)
from query_api.api.deps import Settings, Writes
from query_api.api.forwarded import WRITE_RESPONSES, prompt_service_target
from query_api.api.ownership import owned
from query_api.queries.prompt_reads import get_prompt
from query_api.schemas.prompts import PromptOut
from query_api.tables import prompts

router = APIRouter(
    prefix="/prompts", tags=["prompts"], dependencies=[owned(prompts, "prompt_id", "prompt")]
)

PromptId = Annotated[UUID, Path(description="The prompt's id")]
Label = Annotated[str, Path(description="e.g. production, staging")]

OptionalMessage = Annotated[MessageRequest | None, Body()]


@router.post(
    "",
    status_code=201,
    response_model=PromptOut,
    summary="Create a prompt with its first version",
    responses=WRITE_RESPONSES,
)
async def create_prompt(
    request: Request, writes: Writes, settings: Settings, body: CreatePromptRequest
) -> Response:
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


# One endpoint per body: the body is declared so that it is validated here and documented
# (the public API's model, the same prompt-service validates), then forwarded as it came.
# ``label`` is declared for validation and the document; prompt-service reads it from the path.


async def _versions(
    request: Request,
    writes: Writes,
    settings: Settings,
    prompt_id: PromptId,
    body: CreateVersionRequest,
) -> Response:
    return await _on_prompt(request, writes, settings, prompt_id)


async def _edit(
    request: Request,
    writes: Writes,
    settings: Settings,
    prompt_id: PromptId,
    body: EditPromptRequest,
) -> Response:
    return await _on_prompt(request, writes, settings, prompt_id)


async def _update(
    request: Request,
    writes: Writes,
    settings: Settings,
    prompt_id: PromptId,
    body: UpdatePromptRequest,
) -> Response:
    return await _on_prompt(request, writes, settings, prompt_id)


async def _target(
    request: Request,
    writes: Writes,
    settings: Settings,
    prompt_id: PromptId,
    body: VersionTargetRequest,
) -> Response:
    return await _on_prompt(request, writes, settings, prompt_id)


async def _message(
    request: Request,
    writes: Writes,
    settings: Settings,
    prompt_id: PromptId,
    body: OptionalMessage = None,
) -> Response:
    return await _on_prompt(request, writes, settings, prompt_id)


async def _label_target(
    request: Request,
    writes: Writes,
    settings: Settings,
    prompt_id: PromptId,
    label: Label,
    body: VersionTargetRequest,
) -> Response:
    return await _on_prompt(request, writes, settings, prompt_id)


async def _label_message(
    request: Request,
    writes: Writes,
    settings: Settings,
    prompt_id: PromptId,
    label: Label,
    body: OptionalMessage = None,
) -> Response:
    return await _on_prompt(request, writes, settings, prompt_id)


@dataclass(frozen=True)
class PromptWrite:
    """One forwarded write on an existing prompt, answered with the projected prompt."""

    method: str
    path: str
    summary: str
    endpoint: Callable[..., Awaitable[Response]]
    status_code: int = 200


# Every write on an existing prompt, on one screen. All are forwarded 1:1 to prompt-service.
PROMPT_WRITES = (
    PromptWrite(
        "POST",
        "/{prompt_id}/versions",
        "Add a version (it becomes the current one)",
        _versions,
        status_code=201,
    ),
    PromptWrite(
        "PATCH", "/{prompt_id}", "Edit metadata: name, description, author, class, tags", _edit
    ),
    PromptWrite(
        "PUT",
        "/{prompt_id}",
        "The original combined update: metadata, a new version, activate_version_id",
        _update,
    ),
    PromptWrite(
        "DELETE", "/{prompt_id}", "Archive the prompt (history is never deleted)", _message
    ),
    PromptWrite(
        "PUT",
        "/{prompt_id}/labels/{label}",
        "Point a label (production, staging, ...) at a version",
        _label_target,
    ),
    PromptWrite("DELETE", "/{prompt_id}/labels/{label}", "Remove a label", _label_message),
    PromptWrite(
        "POST",
        "/{prompt_id}/rollback",
        "Make an earlier (or later) version the current one",
        _target,
    ),
    PromptWrite(
        "POST", "/{prompt_id}/archive", "Archive: hidden from default lists, history kept", _message
    ),
    PromptWrite("POST", "/{prompt_id}/restore", "Restore an archived prompt", _message),
)

for write in PROMPT_WRITES:
    router.add_api_route(
        write.path,
        write.endpoint,
        methods=[write.method],
        status_code=write.status_code,
        response_model=PromptOut,
        summary=write.summary,
        responses=WRITE_RESPONSES,
        name=f"{write.method.lower()} {write.path}",
    )
