"""The edge counts and times every request by method, route TEMPLATE and status: ids in the path
never become label values, refusals of the input guard and crashes count too. A real FastAPI app
with eventkit's edge over httpx's ASGI transport (no infrastructure)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from prometheus_client import REGISTRY

from promptworks_eventkit.http import install_edge
from promptworks_eventkit.settings import ServiceSettings


def count(method: str, route: str, status: str) -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("promptworks_http_requests_total", labels) or 0.0


def timed(method: str, route: str, status: str) -> float:
    labels = {"method": method, "route": route, "status": status}
    return (
        REGISTRY.get_sample_value("promptworks_http_request_duration_seconds_count", labels) or 0.0
    )


@pytest.fixture
def client() -> httpx.AsyncClient:
    prefix = f"/t{uuid.uuid4().hex[:6]}"  # series of their own in the process-wide registry
    app = FastAPI()
    install_edge(app, ServiceSettings(max_request_bytes=1024))
    items = APIRouter(prefix="/items")

    @items.get("/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"id": item_id}

    @items.post("")
    async def create(body: dict[str, str]) -> dict[str, str]:
        return body

    @items.get("/{item_id}/boom")
    async def boom(item_id: str) -> None:
        raise RuntimeError("crash")

    api = APIRouter(prefix=f"{prefix}/api")
    api.include_router(items)
    app.include_router(api)
    app.state.prefix = prefix
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    client = httpx.AsyncClient(transport=transport, base_url="http://test")
    client.prefix = prefix  # type: ignore[attr-defined]
    return client


async def test_requests_are_counted_by_route_template_and_status(client: httpx.AsyncClient) -> None:
    prefix = client.prefix  # type: ignore[attr-defined]
    template = f"{prefix}/api/items/{{item_id}}"
    for item_id in ("a", "b", str(uuid.uuid4())):
        assert (await client.get(f"{prefix}/api/items/{item_id}")).status_code == 200
    assert count("GET", template, "200") == 3
    assert timed("GET", template, "200") == 3
    # A rule broken (422) is counted under the same route, with its status.
    assert (await client.post(f"{prefix}/api/items", json={"a": 1})).status_code == 422
    assert count("POST", f"{prefix}/api/items", "422") == 1


async def test_refusals_unknown_paths_and_crashes_are_counted(client: httpx.AsyncClient) -> None:
    prefix = client.prefix  # type: ignore[attr-defined]
    before = count("GET", "<unmatched>", "404")
    assert (await client.get(f"{prefix}/nowhere/{uuid.uuid4()}")).status_code == 404
    assert count("GET", "<unmatched>", "404") == before + 1
    # The input guard answers before routing: still counted under the route the path names.
    too_big = {"v": "x" * 2048}
    assert (await client.post(f"{prefix}/api/items", json=too_big)).status_code == 413
    assert count("POST", f"{prefix}/api/items", "413") == 1
    assert (await client.get(f"{prefix}/api/items/x/boom")).status_code == 500
    assert count("GET", f"{prefix}/api/items/{{item_id}}/boom", "500") == 1
    # A made-up method does not make a label value of its own.
    before = count("OTHER", "<unmatched>", "404")
    assert (await client.request("BREW", f"{prefix}/nowhere")).status_code == 404
    assert count("OTHER", "<unmatched>", "404") == before + 1
