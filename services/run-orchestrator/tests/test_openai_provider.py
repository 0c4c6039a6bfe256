"""The OpenAI-compatible provider against a real chat-completions server on loopback."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.fake_openai import FakeOpenAI, serving_fake_openai

pytestmark = pytest.mark.integration

API_KEY = "sk-test-secret-never-stored"
RESULT = "promptworks.run.result_recorded.v1"


def providers(fake: FakeOpenAI) -> dict[str, Any]:
    return {"fake": {"base_url": fake.base_url, "api_key": API_KEY, "max_retries": 0}}


async def test_results_carry_output_usage_and_the_request_carried_the_parameters(
    harness: Any,
) -> None:
    version = await harness.publish_version(
        messages=[
            {"role": "system", "content": "Answer in {{ lang }}."},
            {"role": "user", "content": "Greet {{ name }}"},
        ],
        variables=[],
    )
    async with serving_fake_openai() as fake, harness.client(providers=providers(fake)) as client:
        response = await client.post(
            "/runs",
            json={
                "prompt_version_id": str(version.version_id),
                "provider": "fake",
                "model_name": "gpt-test",
                "temperature": 0.3,
                "top_p": 0.9,
                "max_tokens": 64,
                "seed": 7,
                "stop": ["END"],
                "cases": [{"lang": "French", "name": "Ada"}, {"lang": "German", "name": "Bo"}],
            },
        )
        assert response.status_code == 201, response.text
        stored = await harness.wait_finished(response.json()["run_id"])

    results = sorted(
        (data for _, kind, data in stored if kind == RESULT), key=lambda r: r["case_index"]
    )
    assert [r["output"] for r in results] == [
        "fake reply to: Answer in French. Greet Ada",
        "fake reply to: Answer in German. Greet Bo",
    ]
    assert results[0]["usage"] == {"prompt_tokens": 5, "completion_tokens": 8, "total_tokens": 13}
    assert all(r["finish_reason"] == "stop" and r["error"] is None for r in results)
    assert stored[-1][2]["status"] == "completed" and stored[-1][2]["succeeded"] == 2

    sent = sorted(fake.requests, key=lambda body: body["messages"][1]["content"])
    assert sent[0]["messages"] == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Greet Ada"},
    ]
    assert sent[0]["model"] == "gpt-test"
    assert (sent[0]["temperature"], sent[0]["top_p"], sent[0]["max_tokens"]) == (0.3, 0.9, 64)
    assert (sent[0]["seed"], sent[0]["stop"]) == (7, ["END"])
    assert set(fake.authorizations) == {f"Bearer {API_KEY}"}
    # The key went to the provider and nowhere else.
    assert API_KEY not in json.dumps([data for _, _, data in stored])
    assert not await harness.fetchval(
        "SELECT count(*) FROM events WHERE data::text LIKE $1 OR metadata::text LIKE $1",
        f"%{API_KEY}%",
    )


async def test_server_errors_become_result_errors_and_the_run_fails(harness: Any) -> None:
    version = await harness.publish_version("Hello {{ name }}")
    async with serving_fake_openai() as fake, harness.client(providers=providers(fake)) as client:
        fake.fail_with_status = 500
        response = await client.post(
            "/runs",
            json={
                "prompt_version_id": str(version.version_id),
                "provider": "fake",
                "model_name": "gpt-test",
                "cases": [{"name": "Ada"}, {"name": "Bo"}],
            },
        )
        assert response.status_code == 201, response.text
        stored = await harness.wait_finished(response.json()["run_id"])

    results = [data for _, kind, data in stored if kind == RESULT]
    assert len(results) == 2 and len(fake.requests) == 2  # max_retries=0: one call each
    for result in results:
        assert result["output"] is None
        assert result["error"].startswith("InternalServerError (HTTP 500)")
        assert "upstream exploded" in result["error"]
        assert API_KEY not in result["error"] and "authorization" not in result["error"].lower()
    assert stored[-1][2] == {
        "run_id": response.json()["run_id"],
        "status": "failed",
        "succeeded": 0,
        "failed": 2,
        "cost": None,  # no price for this model in PROVIDERS
    }


async def test_unreachable_endpoint_is_a_recorded_error(harness: Any) -> None:
    version = await harness.publish_version("Hi", variables=[])
    unreachable = {"down": {"base_url": "http://127.0.0.1:9/v1", "max_retries": 0}}
    async with harness.client(providers=unreachable) as client:
        response = await client.post(
            "/runs",
            json={"prompt_version_id": str(version.version_id), "provider": "down"},
        )
        stored = await harness.wait_finished(response.json()["run_id"])
    [result] = [data for _, kind, data in stored if kind == RESULT]
    assert result["error"].startswith("APIConnectionError")
    assert stored[-1][2]["status"] == "failed"
