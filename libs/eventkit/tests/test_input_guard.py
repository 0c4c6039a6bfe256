"""The edge refuses bodies over the limit (413) and NUL characters (PostgreSQL cannot store
them; 422 naming where they were) before any handler runs; everything else passes through
untouched. A real FastAPI app with eventkit's edge, called over HTTP through httpx's ASGI
transport (no infrastructure)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from promptworks_eventkit.http import install_edge
from promptworks_eventkit.input_guard import nul_path
from promptworks_eventkit.settings import ServiceSettings

LIMIT = 4096


@pytest.fixture
def client() -> httpx.AsyncClient:
    app = FastAPI()
    install_edge(app, ServiceSettings(max_request_bytes=LIMIT))
    seen: list[Any] = []

    @app.post("/echo")
    async def echo(body: dict[str, Any], q: str = "") -> dict[str, Any]:
        seen.append(body)
        return {"body": body, "q": q}

    @app.get("/items/{name}")
    async def item(name: str) -> dict[str, str]:
        return {"name": name}

    app.state.seen = seen
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def _error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["type"] == "nul_character"
    return dict(error)


async def test_nul_in_a_nested_body_field_is_422_naming_it(client: httpx.AsyncClient) -> None:
    body = {"name": "ok", "cases": [{"topic": "fine"}, {"topic": "a\u0000b"}]}
    error = _error(await client.post("/echo", json=body))
    assert error["loc"] == ["body", "cases", "1", "topic"]
    assert error["field"] == "cases.1.topic"
    assert "U+0000" in error["msg"]


async def test_nul_in_an_object_key_is_refused(client: httpx.AsyncClient) -> None:
    error = _error(await client.post("/echo", json={"vars": {"k\u0000": "v"}}))
    assert error["loc"] == ["body", "vars", "k\u0000"]


async def test_nul_in_a_query_parameter_or_the_path_is_refused(client: httpx.AsyncClient) -> None:
    assert _error(await client.post("/echo?q=a%00b", json={}))["loc"] == ["query", "q"]
    assert _error(await client.get("/items/a%00b"))["loc"] == ["path"]


async def test_input_without_nul_reaches_the_handler_unchanged(client: httpx.AsyncClient) -> None:
    # A literal backslash-u-0000 (escaped in JSON) is text, not a NUL character.
    body = {"text": "\\u0000 is how JSON writes NUL", "n": 1, "list": ["张伟", None]}
    response = await client.post("/echo?q=%E5%BC%A0", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"body": body, "q": "张"}


async def test_malformed_json_stays_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/echo", content=b'{"a": "\\u0000', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["type"] == "json_invalid"


async def test_a_body_over_the_limit_is_413_declared_or_streamed(client: httpx.AsyncClient) -> None:
    declared = await client.post("/echo", json={"text": "x" * LIMIT})
    assert declared.status_code == 413, declared.text
    assert declared.json()["errors"][0]["type"] == "body_too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"text": "'
        for _ in range(LIMIT // 100 + 1):
            yield b"y" * 100
        yield b'"}'

    streamed = await client.post("/echo", content=chunks())
    assert streamed.status_code == 413, streamed.text
    assert client._transport.app.state.seen == []  # type: ignore[attr-defined]
    at_limit = await client.post("/echo", json={"text": "z" * (LIMIT - 20)})
    assert at_limit.status_code == 200


def test_nul_path_finds_the_first_offender_or_none() -> None:
    assert nul_path({"a": [1, "x", {"b": "\u0000"}]}) == ("a", "2", "b")
    assert nul_path({"a": [1, "x", {"b": "y"}], "c": True}) is None
    assert nul_path("\u0000") == ()
