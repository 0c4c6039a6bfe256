"""query-api serves the web console's build at ``/`` (ADR 0018): the page for every client
route, hashed assets cacheable, all of it without an API key, and nothing else opened by it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from query_api.auth.scopes import scope_for
from query_api.settings import QueryApiSettings
from query_api.web import install_console, is_console_path

INDEX = '<!doctype html><div id="root"></div><script src="/assets/index-abc123.js"></script>'


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(INDEX)
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log('console')")
    (tmp_path / "secret.txt").write_text("outside the assets")
    return tmp_path


@pytest.mark.parametrize(
    ("method", "path", "console"),
    [
        ("GET", "/", True),
        ("HEAD", "/", True),
        ("GET", "/prompts", True),
        ("GET", "/prompts/0b7c/diff", True),
        ("GET", "/runs/abc/compare", True),
        ("GET", "/batches/new", True),
        ("GET", "/usage", True),
        ("GET", "/quick-test", True),
        ("GET", "/providers", True),
        ("GET", "/keys", True),
        ("GET", "/assets/index-abc123.js", True),
        ("POST", "/", False),
        ("DELETE", "/prompts/x", False),
        ("GET", "/promptsx", False),
        ("GET", "/assets/../secret.txt", False),
        ("GET", "/assets/", False),
        ("GET", "/api/v1/prompts", False),
        ("GET", "/anything-else", False),
    ],
)
def test_only_the_console_paths_are_open(method: str, path: str, console: bool) -> None:
    assert is_console_path(method, path) is console
    assert (scope_for(method, path) is None) is console


async def test_the_console_is_served_without_a_key(
    settings: QueryApiSettings, serve: Any, dist: Path
) -> None:
    async with serve(settings.model_copy(update={"web_dist": dist})) as api:
        transport = httpx.ASGITransport(app=api.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://query-api") as anon:
            for path in ("/", "/prompts", "/prompts/abc/versions/new", "/runs/r1/compare/"):
                page = await anon.get(path)
                assert page.status_code == 200, path
                assert page.text == INDEX
                assert page.headers["content-type"].startswith("text/html")
                assert page.headers["cache-control"] == "no-cache"
                assert "default-src 'self'" in page.headers["content-security-policy"]
            asset = await anon.get("/assets/index-abc123.js")
            assert asset.status_code == 200 and "console" in asset.text
            assert "immutable" in asset.headers["cache-control"]
            missing = await anon.get("/assets/nope.js")
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"
            # Still closed without a key: the API, other methods, other paths.
            assert (await anon.get("/api/v1/prompts")).status_code == 401
            assert (await anon.post("/", json={})).status_code == 401
            assert (await anon.get("/secret.txt")).status_code == 401
            assert (await anon.get("/assets/..%2Fsecret.txt")).status_code in (401, 404)
        # The API is unchanged beside it, and the OpenAPI document does not list the pages.
        assert (await api.client.get("/api/v1/prompts")).status_code == 200
        document = (await api.client.get("/api/v1/openapi.json")).json()
        assert "/" not in document["paths"] and "/prompts" not in document["paths"]


def test_without_a_build_there_is_no_console(tmp_path: Path) -> None:
    app = FastAPI()
    before = len(app.routes)
    install_console(app, None)
    install_console(app, tmp_path / "missing")
    assert len(app.routes) == before  # an API-only deployment: nothing served at /
