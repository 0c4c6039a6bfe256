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


def embed(provider: str, model: str, *inputs: str) -> dict[str, Any]:
    return {"provider": provider, "model": model, "inputs": list(inputs)}


async def test_embeddings_are_retried_priced_and_refused_without_an_endpoint(
    harness: Any,
) -> None:
    """POST /internal/embeddings: the OpenAI fake's ``/v1/embeddings`` through the same retry
    policy, priced by input tokens; the mock embeds deterministically; a provider without
    embeddings (anthropic) is a 422 at the endpoint and at run creation, naming the assertion."""
    configured = {
        "claude": {"kind": "anthropic", "base_url": "http://127.0.0.1:9", "api_key": "k"},
    }
    async with serving_fake_openai() as fake:
        catalog = {**providers(fake), **configured}
        catalog["fake"]["models"]["embed-1"] = {
            "pricing": {"input_per_million": "0.5", "output_per_million": "0"}
        }
        version = await harness.publish_version("Hello {{ name }}")
        async with harness.client(providers=catalog) as client:
            fake.then(Reply.error(503))
            answered = await client.post(
                "/internal/embeddings", json=embed("fake", "embed-1", "the tide", "the moon")
            )
            assert answered.status_code == 200, answered.text
            body = answered.json()
            assert len(fake.embedding_requests) == 2  # the 503 was retried
            sent = fake.embedding_requests[-1]
            assert (sent["model"], sent["input"]) == ("embed-1", ["the tide", "the moon"])
            assert len(body["vectors"]) == 2 and body["error"] is None
            assert body["usage"] == {"prompt_tokens": 4, "completion_tokens": 0, "total_tokens": 4}
            assert Decimal(body["cost"]["amount"]) == Decimal("0.5") * 4 / 1_000_000
            assert all(a == f"Bearer {KEY}" for a in fake.authorizations)

            fake.fail_with_status = 500
            failed = await client.post("/internal/embeddings", json=embed("fake", "embed-1", "x"))
            assert failed.status_code == 200
            assert failed.json()["vectors"] == []
            assert failed.json()["error"].startswith("InternalServerError (HTTP 500)")
            assert KEY not in failed.text

            first = await client.post("/internal/embeddings", json=embed("mock", "m", "a b", "a b"))
            [one, same] = first.json()["vectors"]
            assert one == same and abs(sum(v * v for v in one) - 1.0) < 1e-9  # unit, stable

            refused = await client.post("/internal/embeddings", json=embed("claude", "c", "x"))
            assert refused.status_code == 422
            assert refused.json()["errors"][0]["type"] == "no_embeddings"

            assertion = {"type": "embedding_similarity", "provider": "claude", "model": "c"}
            run = {
                "prompt_version_id": str(version.version_id),
                "cases": [{"name": "A"}],
                "assertions": [{"type": "contains", "value": "A"}, assertion],
            }
            created = await client.post("/runs", json=run)
            assert created.status_code == 422, created.text
            [error] = created.json()["errors"]
            assert (error["field"], error["type"]) == ("assertions.1.provider", "no_embeddings")
            assert "anthropic" in error["msg"]
            fine = {**assertion, "provider": "fake", "model": "embed-1"}
            accepted = await client.post("/runs", json={**run, "assertions": [fine]})
            assert accepted.status_code == 201, accepted.text


async def test_embeddings_are_cached_for_every_replica_and_cost_nothing_when_reused(
    harness: Any,
) -> None:
    """Texts embedded before (by this replica or another on the same database) are answered
    from the shared cache: only the others are sent, each distinct one once, and usage and cost
    are theirs alone. With EMBEDDING_CACHE_TTL_SECONDS=0 every text is sent."""
    async with serving_fake_openai() as fake:
        catalog = providers(fake)
        catalog["fake"]["models"]["embed-1"] = {
            "pricing": {"input_per_million": "0.5", "output_per_million": "0"}
        }
        async with harness.client(providers=catalog) as client:
            first = await client.post(
                "/internal/embeddings", json=embed("fake", "embed-1", "the tide", "the moon")
            )
        assert first.status_code == 200 and first.json()["cached"] == 0, first.text
        async with harness.client(providers=catalog) as replica:
            mixed = await replica.post(
                "/internal/embeddings",
                json=embed("fake", "embed-1", "the moon", "a grey sea", "a grey sea"),
            )
            reused = await replica.post(
                "/internal/embeddings", json=embed("fake", "embed-1", "the tide")
            )
            other_model = await replica.post(
                "/internal/embeddings", json=embed("fake", "judge-1", "the tide")
            )
        async with harness.client(providers=catalog, embedding_cache_ttl_seconds=0) as uncached:
            off = await uncached.post(
                "/internal/embeddings", json=embed("fake", "embed-1", "the tide")
            )
    sent = [request["input"] for request in fake.embedding_requests]
    assert sent == [["the tide", "the moon"], ["a grey sea"], ["the tide"], ["the tide"]]
    body = mixed.json()
    assert body["cached"] == 1 and body["error"] is None
    assert body["vectors"][0] == first.json()["vectors"][1]  # the moon, as first embedded
    assert body["vectors"][1] == body["vectors"][2]
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 3}
    assert Decimal(body["cost"]["amount"]) == Decimal("0.5") * 3 / 1_000_000
    everything = reused.json()
    assert everything["cached"] == 1 and everything["vectors"] == [first.json()["vectors"][0]]
    assert everything["usage"]["total_tokens"] == 0 and Decimal(everything["cost"]["amount"]) == 0
    assert other_model.json()["cached"] == 0  # another model's vectors are other vectors
    assert off.json()["cached"] == 0
