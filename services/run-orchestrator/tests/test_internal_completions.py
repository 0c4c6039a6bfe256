"""POST /internal/completions (the evaluator's judge calls): one call through the execution
layer's retries and pricing, with structured output, against the loopback OpenAI fake and the
built-in mock."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from tests.support.fake_openai import FakeOpenAI, serving_fake_openai
from tests.support.fake_replies import Reply

pytestmark = pytest.mark.integration

KEY = "sk-internal-secret-never-answered"
SCHEMA = {
    "type": "object",
    "properties": {"score": {"type": "integer"}, "reason": {"type": "string"}},
    "required": ["score", "reason"],
    "additionalProperties": False,
}


def providers(fake: FakeOpenAI) -> dict[str, Any]:
    return {
        "fake": {
            "base_url": fake.base_url,
            "api_key": KEY,
            "max_retries": 2,
            "retry_base_seconds": 0.01,
            "models": {
                "judge-1": {"pricing": {"input_per_million": "1", "output_per_million": "2"}}
            },
        }
    }


def call(provider: str, model: str) -> dict[str, Any]:
    return {
        "provider": provider,
        "model": model,
        "messages": [
            {"role": "system", "content": "Reply with JSON."},
            {"role": "user", "content": "Judge this answer"},
        ],
        "parameters": {"temperature": 0, "max_tokens": 200},
        "response_format": {"name": "judgement", "schema": SCHEMA},
    }


async def test_judge_calls_are_retried_priced_and_ask_for_structured_output(
    harness: Any,
) -> None:
    async with serving_fake_openai() as fake, harness.client(providers=providers(fake)) as client:
        fake.content = lambda body: '{"score": 70, "reason": "ok"}'
        fake.then(Reply.error(503))
        answered = await client.post("/internal/completions", json=call("fake", "judge-1"))
        assert answered.status_code == 200, answered.text
        body = answered.json()
        assert len(fake.requests) == 2  # the 503 was retried by the executor's policy
        sent = fake.requests[-1]
        assert sent["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": "judgement", "schema": SCHEMA, "strict": True},
        }
        assert (sent["temperature"], sent["max_tokens"]) == (0.0, 200)
        assert body["output"] == '{"score": 70, "reason": "ok"}' and body["error"] is None
        usage = body["usage"]
        assert usage == {"prompt_tokens": 6, "completion_tokens": 4, "total_tokens": 10}
        assert Decimal(body["cost"]["amount"]) == Decimal(6 * 1 + 4 * 2) / 1_000_000

        fake.fail_with_status = 500
        failed = await client.post("/internal/completions", json=call("fake", "judge-1"))
        assert failed.status_code == 200
        assert failed.json()["output"] is None
        assert failed.json()["error"].startswith("InternalServerError (HTTP 500)")
        assert KEY not in failed.text

        unknown = await client.post("/internal/completions", json=call("nowhere", "m"))
        assert unknown.status_code == 422
        assert "provider 'nowhere' is not configured" in unknown.json()["detail"]

        # The built-in mock answers JSON that fits the schema, deterministically, for free.
        first = await client.post("/internal/completions", json=call("mock", "judge"))
        again = await client.post("/internal/completions", json=call("mock", "judge"))
    assert first.status_code == 200, first.text
    answer = json.loads(first.json()["output"])
    assert set(answer) == {"score", "reason"}
    assert 0 <= answer["score"] <= 100 and answer["reason"] == "mock"
    assert again.json()["output"] == first.json()["output"]
    assert first.json()["cost"] == {"amount": "0", "currency": "USD"}
