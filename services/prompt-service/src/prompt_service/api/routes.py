"""prompt-service's HTTP commands. Reads are served by query-api, not here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError

from prompt_service.api.schemas import (
    CreatePromptRequest,
    CreateVersionRequest,
    VersionCreatedResponse,
)
from prompt_service.domain.commands import CreatePrompt, CreateVersion
from prompt_service.handlers import PromptHandlers, VersionCreated
from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.http import Context, ExpectedVersion

T = TypeVar("T")

router = APIRouter(prefix="/prompts", tags=["prompts"])


def get_handlers(request: Request) -> PromptHandlers:
    handlers: PromptHandlers = request.app.state.handlers
    return handlers


Handlers = Annotated[PromptHandlers, Depends(get_handlers)]


def _response(created: VersionCreated, response: Response) -> VersionCreatedResponse:
    response.headers["ETag"] = f'"{created.stream_version}"'
    return VersionCreatedResponse(**created.__dict__)


def _command(build: Callable[[], T]) -> T:
    """Builds a command; a rule the request schema could not express becomes a clear 422."""
    try:
        return build()
    except ValidationError as error:
        first = error.errors()[0]
        raise DomainError(
            first["msg"], field=".".join(str(p) for p in first["loc"]), rule=first["type"]
        ) from error


@router.post("", status_code=201, response_model=VersionCreatedResponse)
async def create_prompt(
    body: CreatePromptRequest, handlers: Handlers, context: Context, response: Response
) -> VersionCreatedResponse:
    command = _command(
        lambda: CreatePrompt(
            name=body.name,
            description=body.description,
            author=body.author,
            class_name=body.class_name,
            tags=body.tags,
            first_version=body.version_content(body.author),
        )
    )
    return _response(await handlers.create_prompt(command, context), response)


@router.post("/{prompt_id}/versions", status_code=201, response_model=VersionCreatedResponse)
async def create_version(
    prompt_id: UUID,
    body: CreateVersionRequest,
    handlers: Handlers,
    context: Context,
    expected: ExpectedVersion,
    response: Response,
) -> VersionCreatedResponse:
    command = _command(
        lambda: CreateVersion(
            prompt_id=prompt_id,
            content=body.version_content(body.author),
            expected_version=expected,
        )
    )
    return _response(await handlers.create_version(command, context), response)
