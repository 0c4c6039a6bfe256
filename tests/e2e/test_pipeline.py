"""End to end: HTTP into query-api, through prompt-service, run-orchestrator and evaluator over
real Kafka, back out of query-api's read models. Every service is a real process."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from devstack.services import Stack
from tests.e2e.conftest import FAKE_API_KEY, unique
from tests.support.fake_openai import FakeOpenAI

pytestmark = pytest.mark.e2e


async def create_prompt(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {
        "name": unique("greeting"),
        "author": "e2e",
        "class_name": "e2e",
        "content": "Say hello to {{ name }}",
        "variables": [{"name": "name"}],
        **fields,
    }
    response = await client.post("/api/v1/prompts", json=body)
    assert response.status_code == 201, response.text  # read-your-writes: projected already
    prompt: dict[str, Any] = response.json()
    assert prompt["name"] == body["name"]
    return prompt


async def results_with_metrics(
    client: httpx.AsyncClient, run_id: str, expected: int, timeout: float = 60.0
) -> list[dict[str, Any]]:
    async with asyncio.timeout(timeout):
        while True:
            response = await client.get(f"/api/v1/test_prompt/{run_id}/results")
            assert response.status_code == 200, response.text
            results: list[dict[str, Any]] = response.json()
            if len(results) == expected and all(r["metrics"] for r in results):
                return results
            await asyncio.sleep(0.2)


async def finished_run(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    async with asyncio.timeout(60):
        while True:
            run: dict[str, Any] = (await client.get(f"/api/v1/test_prompt/{run_id}")).json()
            if run["status"] in ("completed", "failed") and run.get("evaluation_summary"):
                return run
            await asyncio.sleep(0.2)


@pytest.fixture
async def client(stack: Stack) -> Any:
    async with httpx.AsyncClient(base_url=stack.url("query-api"), timeout=30) as client:
        yield client


async def test_prompt_to_metrics_on_the_mock_model(client: httpx.AsyncClient) -> None:
    prompt = await create_prompt(client)
    response = await client.post(
        "/api/v1/test_prompt",
        json={
            "prompt_version_id": prompt["current_version"]["id"],
            "provider": "mock",
            "model_name": "echo",
            "repetitions": 2,
            "cases": [{"name": "Ada"}, {"name": "Grace"}],
            "assertions": [
                {"type": "contains", "value": "{{ name }}", "name": "mentions_name"},
                {"type": "contains", "value": "Linus", "name": "mentions_linus"},
            ],
        },
    )
    assert response.status_code == 201, response.text
    run_id = response.json()["id"]

    results = await results_with_metrics(client, run_id, expected=4)
    assert [(r["case_index"], r["repetition"]) for r in results] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert results[0]["output"] == "Say hello to Ada"
    for result in results:
        metrics = {m["name"]: m for m in result["metrics"]}
        assert metrics["mentions_name"]["passed"] is True
        assert metrics["mentions_linus"]["passed"] is False
        assert metrics["latency_ms"]["value"] is not None
        assert metrics["total_tokens"]["value"] > 0

    run = await finished_run(client, run_id)
    assert run["status"] == "completed"
    assert (run["succeeded"], run["failed"]) == (4, 0)
    listed = (await client.get("/api/v1/test_prompt", params={"status": "completed"})).json()
    assert run_id in {r["id"] for r in listed}


async def test_prompt_to_metrics_through_an_openai_compatible_server(
    client: httpx.AsyncClient, fake_openai: FakeOpenAI, stack: Stack
) -> None:
    prompt = await create_prompt(client)
    response = await client.post(
        "/api/v1/test_prompt",
        json={
            "prompt_version_id": prompt["current_version"]["id"],
            "provider": "fake-openai",
            "model_name": "gpt-test",
            "temperature": 0.2,
            "cases": [{"name": "Ada"}],
            "assertions": [{"type": "contains", "value": "fake reply"}],
        },
    )
    assert response.status_code == 201, response.text
    run_id = response.json()["id"]

    [result] = await results_with_metrics(client, run_id, expected=1)
    assert result["output"] == "fake reply to: Say hello to Ada"
    assert result["total_tokens"] > 0
    assert {m["name"]: m["passed"] for m in result["metrics"]}["contains_0"] is True
    sent = fake_openai.requests[-1]
    assert sent["model"] == "gpt-test" and sent["temperature"] == 0.2
    assert fake_openai.authorizations[-1] == f"Bearer {FAKE_API_KEY}"

    # The key reached the provider and nowhere else: not the API, not the logs.
    run = await finished_run(client, run_id)
    assert FAKE_API_KEY not in str(run)
    for spec in stack.specs:
        assert FAKE_API_KEY not in stack.log_file(spec.name).read_text()


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"prompt_version_id": "00000000-0000-0000-0000-000000000000"}, "prompt_version_id", 422),
        ({"repetitions": 1}, "prompt_version_id", 422),
    ],
)
async def test_bad_run_requests_name_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str, status: int
) -> None:
    response = await client.post("/api/v1/test_prompt", json=body)
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["field"] == field


async def test_repetitions_out_of_range_and_malformed_json(client: httpx.AsyncClient) -> None:
    prompt = await create_prompt(client)
    version_id = prompt["current_version"]["id"]
    for repetitions in (0, 51):
        response = await client.post(
            "/api/v1/test_prompt",
            json={"prompt_version_id": version_id, "repetitions": repetitions},
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "repetitions"
    response = await client.post(
        "/api/v1/test_prompt", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    before = (await client.get("/api/v1/test_prompt", params={"limit": 200})).json()
    assert all(r["prompt_version_id"] != version_id for r in before)  # nothing half-written
