"""Every error answer of the shared edge has the one shape (RFC 9457 problem details with
``errors``), whatever refused the request: routing (404, 405), the input guard (413, 422),
request parsing (400, 422), a business rule (404, 409, 422), a stale If-Match (409) or a bug
(500, without a trace of the exception, CORS headers kept). And the OpenAPI document says so on
every operation. A path with a trailing slash is served, not redirected.
A real FastAPI app with eventkit's edge over httpx's ASGI transport (no infrastructure)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from pydantic import BaseModel, SecretStr

from promptworks_contracts.api.problem import Problem
from promptworks_eventkit.errors import ConcurrencyConflictError, ConflictError, NotFoundError
from promptworks_eventkit.http import install_edge
from promptworks_eventkit.runtime import Runtime, ops_router
from promptworks_eventkit.settings import ServiceSettings
from tests.support.fake_openai import free_port

SECRET = "password=hunter2 at db.internal:5432"


class Thing(BaseModel):
    name: str
    size: int


@pytest.fixture
def client() -> httpx.AsyncClient:
    app = FastAPI()
    install_edge(app, ServiceSettings(max_request_bytes=1024))

    @app.post("/things")
    async def create(body: Thing) -> Thing:
        if body.name == "taken":
            raise ConflictError("the name is taken", field="name", rule="unique")
        if body.name == "stale":
            raise ConcurrencyConflictError("thing-1", 1, 4)
        return body

    @app.get("/things/{thing_id}")
    async def read(thing_id: int) -> dict[str, int]:
        if thing_id == 7:
            raise RuntimeError(SECRET)
        raise NotFoundError("no such thing", field="thing_id")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    Problem.model_validate(body)
    assert body["type"] == f"urn:promptworks:problem:{kind}"
    assert body["status"] == status and body["title"] and body["detail"]
    return body


async def test_routing_refusals_are_problems(client: httpx.AsyncClient) -> None:
    unknown = problem(await client.get("/nowhere"), 404, "not-found")
    assert unknown["errors"] == []
    wrong = await client.delete("/things")
    problem(wrong, 405, "method-not-allowed")
    assert wrong.headers["allow"] == "POST"


async def test_bodies_refused_before_and_by_validation_are_problems(
    client: httpx.AsyncClient,
) -> None:
    headers = {"content-type": "application/json"}
    malformed = problem(
        await client.post("/things", content=b"{nope", headers=headers), 400, "malformed-body"
    )
    assert malformed["errors"][0]["type"] == "json_invalid"
    invalid = problem(
        await client.post("/things", json={"name": "a", "size": "x"}), 422, "invalid-input"
    )
    assert [(e["field"], e["type"]) for e in invalid["errors"]] == [("size", "int_parsing")]
    assert invalid["detail"].startswith("size: ")
    large = problem(
        await client.post("/things", json={"name": "a" * 2000, "size": 1}), 413, "body-too-large"
    )
    assert large["errors"][0]["type"] == "body_too_large"
    nul = problem(
        await client.post("/things", json={"name": "a\u0000", "size": 1}), 422, "invalid-input"
    )
    assert nul["errors"][0]["loc"] == ["body", "name"]


async def test_rule_refusals_are_problems(client: httpx.AsyncClient) -> None:
    missing = problem(await client.get("/things/3"), 404, "not-found")
    assert missing["errors"][0]["loc"] == ["path", "thing_id"]
    taken = problem(
        await client.post("/things", json={"name": "taken", "size": 1}), 409, "conflict"
    )
    assert taken["errors"][0]["type"] == "unique"
    stale_answer = await client.post("/things", json={"name": "stale", "size": 1})
    stale = problem(stale_answer, 409, "version-conflict")
    assert stale["current_version"] == 4 and stale_answer.headers["etag"] == '"4"'


async def test_a_failure_is_a_problem_that_tells_nothing_of_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/things/7", headers={"X-Correlation-ID": "req-42"})
    body = problem(response, 500, "internal-error")
    assert body["errors"] == [] and "req-42" in body["detail"]
    assert "hunter2" not in response.text and "RuntimeError" not in response.text


async def test_the_openapi_document_names_the_shape_on_every_error_answer(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    assert "Problem" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    operations = [op for item in document["paths"].values() for op in item.values()]
    assert len(operations) == 2
    for operation in operations:
        errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
        assert {"422", "500"} <= set(errors)
        for response in errors.values():
            schema = response["content"]["application/problem+json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}
    post = document["paths"]["/things"]["post"]["responses"]
    get = document["paths"]["/things/{thing_id}"]["get"]["responses"]
    assert {"400", "413"} <= set(post) and "404" in get


async def test_a_trailing_slash_is_served_not_redirected(client: httpx.AsyncClient) -> None:
    created = await client.post("/things/", json={"name": "a", "size": 1})
    assert created.status_code == 200 and created.json() == {"name": "a", "size": 1}
    problem(await client.get("/things/3/"), 404, "not-found")


async def test_a_failure_is_readable_cross_origin() -> None:
    app = FastAPI()
    install_edge(app, ServiceSettings())
    app.add_middleware(CORSMiddleware, allow_origins=["http://app.test"])

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError(SECRET)

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/boom", headers={"Origin": "http://app.test"})
    problem(response, 500, "internal-error")
    assert response.headers["access-control-allow-origin"] == "http://app.test"
    assert "hunter2" not in response.text


async def test_a_service_not_ready_answers_the_problem_naming_what_fails() -> None:
    # A real runtime whose database does not answer (nothing listens on the port).
    settings = ServiceSettings(
        database_url=SecretStr(f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/none")
    )
    runtime = Runtime.build(settings, with_relay=False)
    app = FastAPI()
    install_edge(app, settings)
    app.include_router(ops_router(lambda: runtime))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            alive = await client.get("/healthz")
            assert alive.status_code == 200 and alive.json() == {"status": "ok"}
            body = problem(await client.get("/readyz"), 503, "not-ready")
    finally:
        await runtime.engine.dispose()
    # Never started, so never connected to Kafka either.
    assert body["detail"] == "not ready: database, kafka"
    assert body["checks"]["database"].startswith("error: ")
