"""What the routers share: the handlers, the actor, commands built with clear errors, ETags."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Request, Response

from prompt_service.domain.commands import validated
from prompt_service.handlers.prompts import PromptHandlers
from promptworks_eventkit.actor import Actor as Actor  # the routers take it from here
from promptworks_eventkit.http import PositionOut, positions_out
from promptworks_eventkit.messages import Position


async def prompt_handlers(request: Request) -> PromptHandlers:
    handlers: PromptHandlers = request.app.state.prompt_handlers
    return handlers


Prompts = Annotated[PromptHandlers, Depends(prompt_handlers)]


command = validated
"""Builds a command; a rule the request schema could not express becomes a clear 422."""


def written(response: Response, version: int, positions: Sequence[Position]) -> list[PositionOut]:
    """Sets the ETag (the main stream's version) and returns the positions for the body."""
    response.headers["ETag"] = f'"{version}"'
    return positions_out(positions)
