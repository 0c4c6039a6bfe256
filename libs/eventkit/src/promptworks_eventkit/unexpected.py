"""Answers an exception no handler took with the 500 problem, from inside the app's middleware
stack: Starlette's own last-resort handler sits outside every middleware, so its answer would
miss the CORS headers (a browser could not read it). The exception is raised on afterwards,
so the server still logs it with its traceback (the answer has started: nothing else is sent).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from promptworks_eventkit.problems import problem

CORRELATION_HEADER = b"x-correlation-id"


def failure_detail(correlation: str | None) -> str:
    detail = "the server failed to answer this request; it has been logged"
    if correlation:
        detail += f" under correlation id {correlation[:200]}"
    return detail


class Unexpected:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, receive, tracked)
        except Exception:
            if not started:
                # The request's id (``correlation``), also when it was minted for it.
                correlation = scope.get("state", {}).get("correlation_id")
                if correlation is None:
                    raw = dict(scope.get("headers") or []).get(CORRELATION_HEADER)
                    correlation = raw.decode("latin-1") if raw else None
                await problem(500, detail=failure_detail(correlation))(scope, receive, send)
            raise
