"""Every request has one correlation id: the caller's ``X-Correlation-ID`` or one minted here.
It is bound to the log context for the request (every log line carries it) and kept in the
request's state, where the command context (``http.message_context``) and query-api's
forwarding read it, so events, logs and forwarded calls all name the same id."""

from __future__ import annotations

import uuid

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

CORRELATION_HEADER = b"x-correlation-id"
MAX_LENGTH = 200


class CorrelationId:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        raw = next((v for k, v in scope.get("headers") or () if k == CORRELATION_HEADER), None)
        correlation = raw.decode("latin-1")[:MAX_LENGTH] if raw else str(uuid.uuid4())
        scope.setdefault("state", {})["correlation_id"] = correlation
        with structlog.contextvars.bound_contextvars(correlation_id=correlation):
            await self._app(scope, receive, send)
