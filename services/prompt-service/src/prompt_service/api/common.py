"""What the routers share: the handlers, the actor, commands built with clear errors, ETags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Request, Response
from pydantic import ValidationError

from prompt_service.api.schemas import PositionModel
from prompt_service.handlers.prompts import PromptHandlers
from prompt_service.handlers.taxonomy import TaxonomyHandlers
from prompt_service.handlers.unit_of_work import Position
from promptworks_eventkit.errors import DomainError

T = TypeVar("T")

MAX_ACTOR_CHARS = 200


def prompt_handlers(request: Request) -> PromptHandlers:
    handlers: PromptHandlers = request.app.state.prompt_handlers
    return handlers


def taxonomy_handlers(request: Request) -> TaxonomyHandlers:
    handlers: TaxonomyHandlers = request.app.state.taxonomy_handlers
    return handlers


def actor(x_actor: Annotated[str | None, Header(alias="X-Actor")] = None) -> str:
    """``X-Actor``: who does it (free text until there is authentication); "" when absent."""
    value = (x_actor or "").strip()
    if len(value) > MAX_ACTOR_CHARS:
        raise DomainError(
            f"X-Actor must be at most {MAX_ACTOR_CHARS} characters (got {len(value)})",
            field="X-Actor",
            rule="string_too_long",
        )
    return value


Prompts = Annotated[PromptHandlers, Depends(prompt_handlers)]
Taxonomy = Annotated[TaxonomyHandlers, Depends(taxonomy_handlers)]
Actor = Annotated[str, Depends(actor)]


def command(build: Callable[[], T]) -> T:
    """Builds a command; a rule the request schema could not express becomes a clear 422."""
    try:
        return build()
    except ValidationError as error:
        first = error.errors()[0]
        raise DomainError(
            first["msg"], field=".".join(str(p) for p in first["loc"]), rule=first["type"]
        ) from error


def written(response: Response, version: int, positions: list[Position]) -> list[PositionModel]:
    """Sets the ETag (the main stream's version) and returns the positions for the body."""
    response.headers["ETag"] = f'"{version}"'
    return [
        PositionModel(stream_id=p.stream_id, stream_version=p.stream_version) for p in positions
    ]
