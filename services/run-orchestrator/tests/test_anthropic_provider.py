"""The Anthropic provider (official SDK) against a real Messages API server on loopback."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.fake_anthropic import FakeAnthropic, serving_fake_anthropic

pytestmark = pytest.mark.integration

API_KEY = "sk-ant-test-secret-never-stored"
RESULT = "promptworks.run.result_recorded.v1"


def providers(fake: FakeAnthropic) -> dict[str, Any]:
    return {
        "claude": {
            "kind": "anthropic",
            "base_url": fake.base_url,
            "api_key": API_KEY,
            "max_retries": 0,
        }
    }


async def test_system_prompt_usage_and_parameters_reach_the_messages_api(harness: Any) -> None:
    version = await harness.publish_version(
        messages=[
            {"role": "system", "content": "Answer in {{ lang }}."},
            {"role": "user", "content": "Greet {{ name }}"},
        ],
        variables=[],
    )
    async with (
        serving_fake_anthropic() as fake,
        harness.client(providers=providers(fake)) as client,
    ):
        response = await client.post(
            "/runs",
            json={
                "prompt_version_id": str(version.version_id),
                "provider": "claude",
                "model_name": "claude-test",
                "temperature": 0.3,
                "stop": ["END"],
                "cases": [{"lang": "French", "name": "Ada"}],
            },
        )
        assert response.status_code == 201, response.text
        stored = await harness.wait_finished(response.json()["run_id"])

    [result] = [data for _, kind, data in stored if kind == RESULT]
    assert result["output"] == "claude says: Greet Ada"
    assert result["usage"] == {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6}
    assert result["finish_reason"] == "end_turn" and result["error"] is None
    [sent] = fake.requests
    assert sent["system"] == "Answer in French."
    assert sent["messages"] == [{"role": "user", "content": "Greet Ada"}]
    assert (sent["model"], sent["max_tokens"]) == ("claude-test", 1024)
    assert sent["stop_sequences"] == ["END"]
    assert fake.api_keys == [API_KEY]
    assert API_KEY not in json.dumps([data for _, _, data in stored])


async def test_an_api_refusal_is_the_results_error(harness: Any) -> None:
    version = await harness.publish_version("Hello {{ name }}")
    async with (
        serving_fake_anthropic() as fake,
        harness.client(providers=providers(fake)) as client,
    ):
        response = await client.post(
            "/runs",
            json={
                "prompt_version_id": str(version.version_id),
                "provider": "claude",
                "model_name": "claude-unknown",
                "cases": [{"name": "Ada"}],
            },
        )
        assert response.status_code == 201, response.text
        stored = await harness.wait_finished(response.json()["run_id"])
    [result] = [data for _, kind, data in stored if kind == RESULT]
    assert result["output"] is None
    assert "NotFoundError (HTTP 404)" in result["error"]
    assert "claude-unknown" in result["error"]
    assert stored[-1][2]["status"] == "failed"
