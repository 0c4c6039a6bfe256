"""The web console's built files (``web/dist``, ADR 0018), served at ``/`` beside the API.

Only these paths are the console's, and only for GET and HEAD: ``/`` and the client routes
(``/prompts…``, ``/runs…``, ``/batches…``, ``/usage``), answered with ``index.html`` so a reload
or a shared link opens the same screen, and ``/assets/<file>``, the bundles Vite names by their
content hash, cacheable for a year. The API key middleware lets exactly these through
(``is_console_path``); everything else still needs a key. ``index.html`` is read per request and
never cached, so a rebuild shows at the next load without a restart.
"""

from __future__ import annotations

import re
from pathlib import Path

import structlog
from fastapi import FastAPI
from fastapi.responses import FileResponse, Response

from promptworks_eventkit.problems import problem

log = structlog.get_logger(__name__)

CLIENT_ROUTES = ("/prompts", "/runs", "/batches", "/usage", "/quick-test", "/providers", "/keys")
ASSETS = "/assets/"
_ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
CONSOLE_METHODS = frozenset({"GET", "HEAD"})
# The console loads only its own bundles and calls only this origin; inline styles are React's
# style attributes (progress bars).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
ASSET_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
}


def is_console_path(method: str, path: str) -> bool:
    """Whether ``method path`` asks for one of the console's files (open without a key)."""
    if method not in CONSOLE_METHODS:
        return False
    if path == "/" or (path.startswith(ASSETS) and _ASSET_NAME.match(path[len(ASSETS) :])):
        return True
    return any(path == route or path.startswith(route + "/") for route in CLIENT_ROUTES)


def install_console(app: FastAPI, dist: Path | None) -> None:
    """Serves ``dist`` (the console's build) if it holds an ``index.html``; otherwise the
    console is simply absent (an API-only deployment, or ``make install`` not run yet)."""
    if dist is None:
        return
    index = dist / "index.html"
    if not index.is_file():
        log.warning("web console not built; not serving it", dist=str(dist))
        return
    assets = (dist / "assets").resolve()

    async def page() -> Response:
        return FileResponse(index, media_type="text/html", headers=PAGE_HEADERS)

    async def asset(name: str) -> Response:
        file = (assets / name).resolve()
        if not _ASSET_NAME.match(name) or file.parent != assets or not file.is_file():
            return problem(404, detail=f"no console file {name!r}", kind="not-found")
        return FileResponse(file, headers=ASSET_HEADERS)

    methods = sorted(CONSOLE_METHODS)
    app.add_api_route("/", page, methods=methods, include_in_schema=False)
    for route in CLIENT_ROUTES:
        app.add_api_route(route, page, methods=methods, include_in_schema=False)
        app.add_api_route(route + "/{rest:path}", page, methods=methods, include_in_schema=False)
    app.add_api_route(ASSETS + "{name}", asset, methods=methods, include_in_schema=False)
