"""Who does a command: the ``X-Actor`` header, shared by every command service's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from promptworks_eventkit.errors import DomainError

MAX_ACTOR_CHARS = 200


async def actor(x_actor: Annotated[str | None, Header(alias="X-Actor")] = None) -> str:
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


Actor = Annotated[str, Depends(actor)]
