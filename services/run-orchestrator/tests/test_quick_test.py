"""POST /quick-test on real PostgreSQL and Kafka: one call answered whole or streamed (the mock
and a loopback OpenAI-compatible server that streams), recorded as QuickTestCompleted."""

from __future__ import annotations

import json
from typing import Any

from promptworks_contracts.values import VariableSpec
from tests.support.fake_openai import serving_fake_openai

QUICK = "promptworks.quick_test.completed.v1"


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) of every server-sent event in a stream's text."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


async def test_a_quick_test_answers_whole_and_is_recorded_as_usage(harness: Any) -> None:
    version = await harness.publish_version("Hello {{ name }}")
    price = {"input_per_million": "1", "output_per_million": "2"}
    async with harness.client(mock_models={"echo": {"pricing": price}}) as client:
        response = await client.post(
            "/quick-test",
            json={"prompt_version_id": str(version.version_id), "variables": {"name": "Ada"}},
            headers={"X-Actor": "ops"},
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["output"] == "Hello Ada" and answer["error"] is None
        assert answer["usage"]["total_tokens"] == 4 and answer["cost"]["amount"] == "0.000006"
        assert answer["actor"] == "ops" and answer["streamed"] is False
        stored = await harness.stored_events(answer["quick_test_id"])
        assert [kind for _, kind, _ in stored] == [QUICK]
        assert await harness.fetchval("SELECT count(*) FROM runs") == 0  # usage, not a run
        missing = await client.post(
            "/quick-test", json={"prompt_version_id": str(version.version_id)}
        )
        assert missing.status_code == 422
        assert missing.json()["errors"][0]["field"] == "variables.name"
        unknown = await client.post(
            "/quick-test",
            json={
                "prompt_version_id": str(version.version_id),
                "variables": {"name": "Ada"},
                "provider": "nowhere",
                "model_name": "x",
            },
        )
        assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "provider"


async def test_a_quick_test_streams_from_an_openai_compatible_server(harness: Any) -> None:
    version = await harness.publish_version(
        "Greet {{ name }} {{ times }} times",
        variables=[VariableSpec(name="name"), VariableSpec(name="times", type="integer")],
    )
    async with serving_fake_openai() as fake:
        providers = {"fake": {"base_url": fake.base_url, "api_key": "sk-stream-secret"}}
        async with harness.client(providers=providers) as client:
            body = {
                "prompt_version_id": str(version.version_id),
                "variables": {"name": "Ada", "times": 2},
                "provider": "fake",
                "model_name": "gpt-test",
                "stream": True,
            }
            async with client.stream("POST", "/quick-test", json=body) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                text = (await response.aread()).decode()
            wrong = await client.post(
                "/quick-test", json={**body, "variables": {"name": "Ada", "times": "two"}}
            )
    events = sse_events(text)
    deltas = [data["text"] for event, data in events if event == "delta"]
    assert len(deltas) > 1  # the server streamed word by word, and so did we
    [done] = [data for event, data in events if event == "done"]
    assert events[-1][0] == "done"
    assert "".join(deltas) == done["output"] == "fake reply to: Greet Ada 2 times"
    assert done["streamed"] is True and done["usage"]["total_tokens"] > 0
    assert fake.requests[-1]["stream"] is True
    assert "sk-stream-secret" not in text
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "variables.times"
