"""/api/v1/prompts: prompt reads from the read model; creation forwarded to prompt-service."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response

from promptworks_contracts.topics import PROMPT_EVENTS
from query_api.api.deps import (
    PAGE_HEADERS,
    ReadSession,
    ResourceNotFoundError,
    Settings,
    Writes,
    set_total,
)
from query_api.api.schemas import PromptOut
from query_api.queries import prompts as queries
from query_api.writes import WriteTarget

router = APIRouter(prefix="/prompts", tags=["prompts"])

CREATE_EXAMPLE: dict[str, Any] = {
    "name": "greeting",
    "description": "Greets a user by name",
    "author": "ann",
    "class_name": "demo",
    "tags": ["onboarding"],
    "version": "v1",
    "content": "Say hello to {{ name }}",
    "variables": [{"name": "name"}],
}


@router.get(
    "",
    response_model=list[PromptOut],
    responses={200: {"headers": PAGE_HEADERS}},
    summary="List or search prompts",
)
async def list_prompts(
    session: ReadSession,
    response: Response,
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Fuzzy search on name, author and class (typos tolerated)",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[PromptOut]:
    """Newest first (by the latest change); best match first when ``q`` is given."""
    total, items = await queries.list_prompts(session, q, limit, offset)
    set_total(response, total)
    return items


@router.get("/{prompt_id}", response_model=PromptOut, summary="One prompt")
async def get_prompt(
    session: ReadSession, prompt_id: Annotated[UUID, Path(description="The prompt's id")]
) -> PromptOut:
    prompt = await queries.get_prompt(session, prompt_id)
    if prompt is None:
        raise ResourceNotFoundError(f"prompt {prompt_id} does not exist", field="prompt_id")
    return prompt


@router.post(
    "",
    status_code=201,
    response_model=PromptOut,
    summary="Create a prompt with its first version",
    responses={
        202: {"description": "Recorded by prompt-service, not yet visible here; see Location"},
        409: {"description": "A prompt of that name already exists in the class"},
        422: {"description": "prompt-service refused the body; `detail` names the field"},
        503: {"description": "prompt-service is unreachable; nothing was written"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "Validated by prompt-service: give `content` (text) or `messages` "
            "(chat), not both.",
            "content": {
                "application/json": {"schema": {"type": "object"}, "example": CREATE_EXAMPLE}
            },
        }
    },
)
async def create_prompt(request: Request, writes: Writes, settings: Settings) -> Response:
    target = WriteTarget(
        service="prompt-service",
        url=f"{settings.prompt_service_url.rstrip('/')}/prompts",
        topic=PROMPT_EVENTS,
        id_fields=("prompt_id",),
        location="/api/v1/prompts/{id}",
    )
    return await writes.create(request, target, queries.get_prompt)
