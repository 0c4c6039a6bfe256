"""Serves ``/prompts/`` as ``/prompts``: the path's trailing slash is dropped before routing.

Starlette's default answers such a path with a 307 to an absolute URL built from the Host
header, which a browser behind a proxy (or a cross-origin call) cannot follow. The original
PromptWorks API declared its collections with the slash, and its frontend calls them so; every
route here is declared without it, so both spellings reach the same route directly.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class TrailingSlash:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = dict(scope)
            scope["path"] = path.rstrip("/") or "/"
            raw: bytes | None = scope.get("raw_path")
            if raw is not None:
                scope["raw_path"] = raw.rstrip(b"/") or b"/"
        await self._app(scope, receive, send)
