"""HTTP helpers shared by the services' routers."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Header, Request

from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.eventstore import MessageContext

CORRELATION_HEADER = "X-Correlation-ID"


def message_context(request: Request) -> MessageContext:
    """Carries the caller's correlation id and W3C trace context into the events."""
    correlation = request.headers.get(CORRELATION_HEADER) or str(uuid.uuid4())
    return MessageContext(
        correlation_id=correlation[:200],
        causation_id=correlation[:200],
        traceparent=request.headers.get("traceparent"),
    )


def expected_version(if_match: Annotated[str | None, Header()] = None) -> int | None:
    """``If-Match: "3"`` (or ``3``) is the stream version the client last saw."""
    if if_match is None or if_match.strip() == "*":
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise DomainError(
            'If-Match must be the stream version the client last saw, e.g. "3"',
            field="If-Match",
            rule="integer",
        )
    return int(raw)


Context = Annotated[MessageContext, Depends(message_context)]
ExpectedVersion = Annotated[int | None, Depends(expected_version)]
