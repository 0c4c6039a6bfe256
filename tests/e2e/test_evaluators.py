"""End to end, every service a real process: an evaluator defined through query-api, a run
pinned to its latest version and judged by an LLM judge (the built-in mock model), then
re-evaluated with a newer version without calling the model again; results, summary and
comparison of either evaluation read back from query-api."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from devstack.services import Stack
from tests.e2e.conftest import unique

pytestmark = pytest.mark.e2e

API = "/api/v1"
JUDGE = {
    "type": "llm_judge",
    "name": "judge",
    "provider": "mock",
    "model": "judge",
    "dimensions": [{"name": "clarity", "description": "easy to read"}],
    "threshold": 0,
}
MENTIONS_ADA = {"type": "contains", "value": "Ada", "name": "mentions_ada"}
SAYS_HELLO = {"type": "contains", "value": "hello", "name": "says_hello"}


@pytest.fixture
async def client(stack: Stack) -> Any:
    async with stack.api_client(timeout=30) as client:
        yield client


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def until(check: Any, timeout: float = 60.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            found = await check()
            if found:
                return found
            await asyncio.sleep(0.2)


async def test_a_pinned_judged_run_re_evaluated_with_a_new_version(
    client: httpx.AsyncClient,
) -> None:
    prompt = await ok(
        await client.post(
            f"{API}/prompts",
            json={
                "name": unique("greeting"),
                "author": "e2e",
                "content": "Say hello to {{ name }}",
                "variables": [{"name": "name"}],
            },
        ),
        201,
    )
    evaluator = await ok(
        await client.post(
            f"{API}/evaluators",
            json={"name": unique("greets"), "assertions": [MENTIONS_ADA, JUDGE]},
        ),
        201,
    )
    run = await ok(
        await client.post(
            f"{API}/test_prompt",
            json={
                "prompt_version_id": prompt["current_version"]["id"],
                "provider": "mock",
                "model_name": "echo",
                "cases": [{"name": "Ada"}, {"name": "Grace"}],
                "evaluator": {"evaluator_id": evaluator["id"], "version": "latest"},
            },
        ),
        201,
    )
    run_id = run["id"]
    pin = {"evaluator_id": evaluator["id"], "version": 1}
    assert run["evaluator"] == pin and [a["name"] for a in run["assertions"]] == [
        "mentions_ada",
        "judge",
    ]

    async def evaluated_run() -> Any:
        found = (await client.get(f"{API}/test_prompt/{run_id}")).json()
        return found if found.get("evaluation_summary") else None

    first = (await until(evaluated_run))["evaluation_summary"]
    assert first["pass_rate"] == 0.5 and first["evaluation_id"] is None
    # The judge was asked through run-orchestrator and scored each result (0-100).
    results = await ok(await client.get(f"{API}/test_prompt/{run_id}/results"))
    assert [r["passed"] for r in results] == [True, False]
    for result in results:
        [judgement] = result["judgements"]
        assert judgement["name"] == "judge" and judgement["error"] is None
        assert 0 <= judgement["score"] <= 100
    assert first["judge_tokens"]["total_tokens"] > 0

    # Version 2 (no judge: no judge call, no cost) re-evaluates the same outputs.
    await ok(
        await client.post(
            f"{API}/evaluators/{evaluator['id']}/versions", json={"assertions": [SAYS_HELLO]}
        ),
        201,
    )
    url = f"{API}/test_prompt/{run_id}/evaluations"
    asked = await client.post(url, json={"evaluator_id": evaluator["id"], "version": "latest"})
    requested = await ok(asked, 202)
    assert requested["evaluator"] == {"evaluator_id": evaluator["id"], "version": 2}
    again = await ok(await client.post(url, json={"evaluator_id": evaluator["id"], "version": 2}))
    assert again["id"] == requested["id"]

    async def both_evaluated() -> Any:
        found = (await client.get(url)).json()
        return found if all(e["status"] == "evaluated" for e in found) else None

    first_eval, second = await until(both_evaluated)
    assert (first_eval["id"], first_eval["first"], first_eval["evaluator"]) == (run_id, True, pin)
    assert (second["id"], second["latest"], second["summary"]["pass_rate"]) == (
        requested["id"],
        True,
        1.0,
    )
    # Default: the latest evaluation; ?evaluation= the run's id: the first, kept.
    latest = await ok(await client.get(f"{API}/test_prompt/{run_id}/results"))
    assert [r["passed"] for r in latest] == [True, True]
    assert [[m["name"] for m in r["metrics"] if m["name"] == "says_hello"] for r in latest] == [
        ["says_hello"],
        ["says_hello"],
    ]
    kept = await ok(
        await client.get(f"{API}/test_prompt/{run_id}/results", params={"evaluation": run_id})
    )
    assert [r["passed"] for r in kept] == [True, False] and kept[0]["judgements"]
    failing = await client.get(
        f"{API}/test_prompt/{run_id}/results", params={"evaluation": run_id, "passed": "false"}
    )
    assert [r["case_index"] for r in failing.json()] == [1]
    summary = (await client.get(f"{API}/test_prompt/{run_id}")).json()["evaluation_summary"]
    assert summary["evaluation_id"] == requested["id"] and summary["pass_rate"] == 1.0
    # The run (still the same outputs) under the new evaluation against the first one.
    compared = await ok(
        await client.get(
            f"{API}/test_prompt/{run_id}/compare",
            params={"baseline": run_id, "baseline_evaluation": run_id},
        )
    )
    assert compared["pass_rate"]["delta"] == 0.5
    assert compared["fixes"] == [{"case_index": 1, "repetition": 1}]
    unknown = await client.get(
        f"{API}/test_prompt/{run_id}/results", params={"evaluation": evaluator["id"]}
    )
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "evaluation"
