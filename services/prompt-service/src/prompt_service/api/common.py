"""What the routers share: the handlers, the actor, commands built with clear errors, ETags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Header, Request, Response

from prompt_service.domain.commands import validated
from prompt_service.handlers.prompts import PromptHandlers
from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.http import PositionOut, positions_out
from promptworks_eventkit.messages import Position

MAX_ACTOR_CHARS = 200


def prompt_handlers(request: Request) -> PromptHandlers:
    handlers: PromptHandlers = request.app.state.prompt_handlers
    return handlers


def actor(x_actor: Annotated[str | None, Header(alias="X-Actor")] = None) -> str:
    """``X-Actor``: who does it (free text until there is authentication); "" when absent.
    Header values travel as bytes that Starlette decodes as latin-1; clients send names such as
    ``张伟`` or ``Zoë`` in UTF-8, so the bytes are read as UTF-8 when they are valid UTF-8."""
    value = _utf8(x_actor or "").strip()
    if len(value) > MAX_ACTOR_CHARS:
        raise DomainError(
            f"X-Actor must be at most {MAX_ACTOR_CHARS} characters (got {len(value)})",
            field="X-Actor",
            rule="string_too_long",
        )
    return value


def _utf8(header: str) -> str:
    raw = header.encode("latin-1")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return header  # latin-1 it was


Prompts = Annotated[PromptHandlers, Depends(prompt_handlers)]
Actor = Annotated[str, Depends(actor)]


command = validated
"""Builds a command; a rule the request schema could not express becomes a clear 422."""


def written(response: Response, version: int, positions: Sequence[Position]) -> list[PositionOut]:
    """Sets the ETag (the main stream's version) and returns the positions for the body."""
    response.headers["ETag"] = f'"{version}"'
    return positions_out(positions)
