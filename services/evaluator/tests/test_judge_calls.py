"""LLM-as-judge end to end: the evaluator (in process, real Kafka and PostgreSQL) asks a real
run-orchestrator process, which calls the loopback OpenAI-compatible fake (structured output,
its pricing and retries) or the built-in mock; malformed and off-scale answers are asked again,
then recorded as judge errors."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from evaluator.app import create_app
from evaluator.metrics import JUDGE_CALLS
from evaluator.settings import EvaluatorSettings
from promptworks_contracts.events import (
    AdviceFailed,
    AdviceGiven,
    AdviceRequested,
    ResultEvaluated,
    RunCompleted,
    RunEvaluated,
)
from promptworks_contracts.topics import EVALUATION_EVENTS
from promptworks_eventkit.settings import KafkaSettings
from services.evaluator.tests.harness import Harness, RunStream, result, run_created
from tests.support.credentials import SERVICE_TOKEN, service_headers
from tests.support.fake_openai import FakeOpenAI, serving_fake_openai
from tests.support.service_process import service_process

pytestmark = pytest.mark.integration

KEY = "sk-judge-secret-never-recorded"
B_KEY = "sk-project-b-judge"
PRICE_IN, PRICE_OUT = Decimal("1.00"), Decimal("2.00")  # per million tokens
PRICE_EMBED = Decimal("0.10")
DIMENSIONS = ("准确性", "完整性", "清晰度", "稳定性")


def scores(*values: Any) -> str:
    pairs = zip(DIMENSIONS, values, strict=True)
    entries = {d: {"score": v, "reason": f"{d} is {v}"} for d, v in pairs}
    return json.dumps({"scores": entries}, ensure_ascii=False)


ADVICE = {
    "overall_advice": "Ask for the city's country explicitly.",
    "parameter_advice": "Lower the temperature to 0.2.",
    "model_advice": "The mock is fine for this task.",
    "prompt_revision": {
        "template": "Where is {{ city }}? Answer as JSON with `city` and `country`.",
        "rationale": "Names the fields the schema needs.",
    },
    "validation_plan": "Run the same cases with 3 repetitions; compare the pass rate.",
}


def advice_content(body: dict[str, Any]) -> str:
    """The adviser as told: malformed, then a revision using a variable the run lacks, then
    usable advice when the focus says so (``usable``); always the bad revision otherwise."""
    asked = (len(body["messages"]) - 2) // 2  # earlier attempts quoted back
    if "usable" in body["messages"][1]["content"]:
        if asked == 0:
            return "Here is my advice: be clearer."
        if asked == 1:
            bad = {**ADVICE, "prompt_revision": {"template": "{{ town }}?", "rationale": ""}}
            return json.dumps(bad)
        return "```json\n" + json.dumps(ADVICE) + "\n```"
    return json.dumps({**ADVICE, "prompt_revision": {"template": "{{ town }}?", "rationale": ""}})


def judge_content(body: dict[str, Any]) -> str:
    """The judge as told: by the answer it is shown and how often it was asked."""
    if "expert prompt engineer" in body["messages"][0]["content"]:
        return advice_content(body)
    question = body["messages"][1]["content"]
    asked_again = len(body["messages"]) > 2
    if "GOOD" in question:
        return scores(90, 80, 70, 60)  # mean 75: passes 60
    if "WEAK" in question:  # malformed first, then a low but valid judgement
        return scores(40, 40, 40, 40) if asked_again else "I think it is fine, 8/10"
    return scores(150, 50, 50, 50)  # STUBBORN: off the scale every time


@pytest.fixture
async def judged(
    database: Any, kafka: KafkaSettings, tmp_path: Path
) -> AsyncIterator[tuple[Harness, FakeOpenAI, str]]:
    async with serving_fake_openai() as fake:
        fake.content = judge_content
        providers = {
            "judgeco": {
                "kind": "openai",
                "base_url": fake.base_url,
                "api_key": KEY,
                "max_retries": 1,
                "retry_base_seconds": 0.05,
                "models": {
                    "judge-1": {
                        "pricing": {
                            "input_per_million": str(PRICE_IN),
                            "output_per_million": str(PRICE_OUT),
                        }
                    },
                    "embed-1": {
                        "pricing": {
                            "input_per_million": str(PRICE_EMBED),
                            "output_per_million": "0",
                        }
                    },
                },
            }
        }
        orchestrator_db = await database("run-orchestrator")
        async with service_process(
            "run-orchestrator",
            orchestrator_db,
            kafka,
            tmp_path,
            env={
                "PROVIDERS": json.dumps(providers),
                # Project b's catalog provider (test_a_judge_calls_its_runs_project_provider).
                "ALLOW_PRIVATE_PROVIDER_URLS": "true",
                "B_API_KEY": B_KEY,
            },
        ) as orchestrator_url:
            url: str = await database("evaluator")
            settings = EvaluatorSettings(
                database_url=SecretStr(url),
                kafka=kafka,
                run_orchestrator_url=orchestrator_url,
                service_token=SecretStr(SERVICE_TOKEN),  # run-orchestrator demands it
            )
            app = create_app(settings)
            engine = create_async_engine(url)
            producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, linger_ms=5)
            await producer.start()
            try:
                async with app.router.lifespan_context(app):
                    transport = httpx.ASGITransport(app=app)
                    async with httpx.AsyncClient(transport=transport, base_url="http://e") as c:
                        yield Harness(kafka, engine, c, producer), fake, orchestrator_url
            finally:
                await producer.stop()
                await engine.dispose()


def cost_of(fake_request: dict[str, Any], answer: str) -> Decimal:
    """The fake's usage (words of prompt and answer) at the judge model's price."""
    prompt = " ".join(str(m["content"]) for m in fake_request["messages"])
    tokens_in, tokens_out = len(prompt.split()), len(answer.split())
    return (tokens_in * PRICE_IN + tokens_out * PRICE_OUT) / 1_000_000


async def test_judges_score_retry_and_record_errors_never_as_scores(
    judged: tuple[Harness, FakeOpenAI, str],
) -> None:
    harness, fake, _ = judged
    stream = RunStream()
    assertions = [
        {"type": "llm_judge", "provider": "judgeco", "model": "judge-1", "threshold": 60},
        {
            "type": "llm-judge",
            "name": "mock_judge",
            "provider": "mock",
            "model": "judge",
            "dimensions": [{"name": "relevance", "description": "on topic"}],
            "threshold": 0,
            "weight": 0,
        },
        # A provider run-orchestrator does not know: refused (422), a judge error, no call.
        {"type": "judge", "name": "lost_judge", "provider": "nowhere", "model": "m", "weight": 0},
    ]
    outputs = ["GOOD answer", "WEAK answer", "STUBBORN answer", None]
    results = [result(stream, 0, out, error=None if out else "provider timeout") for out in outputs]
    created = run_created(stream, cases=[{"topic": "tides"}], assertions=assertions, total_calls=4)
    completed = RunCompleted(run_id=stream.run_id, status="completed", succeeded=3, failed=1)
    calls_before = {o: JUDGE_CALLS.labels(o)._value.get() for o in ("ok", "error")}
    await harness.produce([stream.record(e) for e in [created, *results, completed]])
    async with asyncio.timeout(90):
        out = await harness.read(EVALUATION_EVENTS, lambda got: len(got) >= 5)
    evaluated = {e.event.result_id: e.event for e in out if isinstance(e.event, ResultEvaluated)}
    good, weak, stubborn, failed = (evaluated[r.result_id] for r in results)

    # What the judge model was sent: structured output with the rubric's schema, the key.
    assert len(fake.requests) == 1 + 2 + 3  # good once, weak twice, stubborn three times
    # The judge-call metric: judgeco's six calls and the mock judge's three were answered;
    # the unknown provider's three were refused.
    calls = {o: JUDGE_CALLS.labels(o)._value.get() - calls_before[o] for o in ("ok", "error")}
    assert calls == {"ok": 6 + 3, "error": 3}
    for body in fake.requests:
        form = body["response_format"]
        assert form["type"] == "json_schema"
        assert form["json_schema"]["strict"] is True
        schema = form["json_schema"]["schema"]
        assert schema["properties"]["scores"]["required"] == list(DIMENSIONS)
        assert body["temperature"] == 0.0
        assert '"topic": "tides"' in body["messages"][1]["content"]
    assert all(a == f"Bearer {KEY}" for a in fake.authorizations)
    weak_retry = next(b for b in fake.requests if "WEAK" in str(b) and len(b["messages"]) > 2)
    assert weak_retry["messages"][2] == {
        "role": "assistant",
        "content": "I think it is fine, 8/10",
    }
    assert "not JSON" in weak_retry["messages"][3]["content"]

    # A good judgement: scores, reasons, the weighted mean, cost of its one call.
    [judgement, mock_judgement, lost_judgement] = good.judgements
    assert [(s.dimension, s.score) for s in judgement.scores] == list(
        zip(DIMENSIONS, [90.0, 80.0, 70.0, 60.0], strict=True)
    )
    assert judgement.scores[0].reason == "准确性 is 90"
    assert (judgement.score, judgement.attempts, judgement.error) == (75.0, 1, None)
    good_request = next(b for b in fake.requests if "GOOD" in str(b))
    assert judgement.cost is not None
    assert judgement.cost.amount == cost_of(good_request, scores(90, 80, 70, 60))
    metrics = {m.name: m for m in good.metrics}
    assert (metrics["llm_judge_0"].value, metrics["llm_judge_0"].passed) == (75.0, True)
    assert metrics["llm_judge_0.清晰度"].value == 70.0
    assert good.passed is True

    # The built-in mock judges too (0-100 by hash), free, reported only (weight 0).
    assert mock_judgement.name == "mock_judge"
    assert mock_judgement.error is None and mock_judgement.score is not None
    assert 0 <= mock_judgement.score <= 100
    assert mock_judgement.cost is not None and mock_judgement.cost.amount == 0

    # An unknown provider: the refusal is the judge error; nothing was scored or paid.
    assert lost_judgement.score is None and lost_judgement.cost is None
    assert lost_judgement.error is not None
    assert "provider 'nowhere' is not configured" in lost_judgement.error
    assert {m.name: m for m in good.metrics}["lost_judge"].passed is False

    # Malformed, asked again, then a valid low score: fails the threshold with its score.
    weak_judgement = weak.judgements[0]
    assert (weak_judgement.score, weak_judgement.attempts) == (40.0, 2)
    assert weak.passed is False
    [reason] = weak.reasons
    assert (reason.name, reason.type, reason.value, reason.threshold) == (
        "llm_judge_0",
        "llm_judge",
        40.0,
        60.0,
    )

    # Off the scale three times: a judge error, no score anywhere, every attempt paid for.
    stubborn_judgement = stubborn.judgements[0]
    assert stubborn_judgement.score is None and stubborn_judgement.scores == []
    assert stubborn_judgement.attempts == 3
    assert stubborn_judgement.error is not None
    assert "off the 0-100 scale" in stubborn_judgement.error
    stubborn_requests = [b for b in fake.requests if "STUBBORN" in str(b)]
    assert stubborn_judgement.cost is not None
    assert stubborn_judgement.cost.amount == sum(
        cost_of(b, scores(150, 50, 50, 50)) for b in stubborn_requests
    )
    stubborn_metrics = {m.name: m for m in stubborn.metrics}
    assert stubborn_metrics["llm_judge_0"].value is None
    assert stubborn_metrics["llm_judge_0"].passed is False
    assert stubborn_metrics["llm_judge_0.准确性"].value is None
    assert stubborn.passed is False

    # A failed call is not judged (nothing to judge, nothing paid).
    assert failed.judgements == []
    assert {m.name: m for m in failed.metrics}["llm_judge_0"].detail == (
        "no output: provider timeout"
    )

    # The run: judge cost and tokens; per dimension mean, standard deviation, t interval.
    [run] = [e.event for e in out if isinstance(e.event, RunEvaluated)]
    judge_total = sum(
        (j.cost.amount for e in evaluated.values() for j in e.judgements if j.cost), Decimal(0)
    )
    assert run.judge_cost is not None and run.judge_cost.amount == judge_total
    assert run.judge_tokens is not None
    assert run.judge_tokens.total_tokens == sum(
        j.usage.total_tokens for e in evaluated.values() for j in e.judgements
    )
    accuracy = {s.name: s for s in run.summaries}["llm_judge_0.准确性"]
    assert (accuracy.count, accuracy.mean) == (2, 65.0)  # 90 and 40; the error has no score
    std = math.sqrt(2 * 25.0**2)  # sample standard deviation of 90 and 40
    assert accuracy.std == pytest.approx(std)
    half = 12.706204736174698 * std / math.sqrt(2)  # t(0.975, 1 degree of freedom)
    assert accuracy.mean_interval is not None
    assert accuracy.mean_interval.low == pytest.approx(65.0 - half)
    assert accuracy.mean_interval.high == pytest.approx(65.0 + half)
    overall = {s.name: s for s in run.summaries}["llm_judge_0"]
    assert (overall.passed, overall.judged) == (1, 4)
    assert KEY not in json.dumps([e.event.model_dump(mode="json") for e in out])


async def test_a_batch_rolled_back_after_its_judge_calls_does_not_pay_twice(
    judged: tuple[Harness, FakeOpenAI, str],
) -> None:
    harness, fake, _ = judged
    stream = RunStream()
    judge = {"type": "llm_judge", "provider": "judgeco", "model": "judge-1", "threshold": 60}
    good = result(stream, 0, "GOOD answer")
    created = run_created(stream, cases=[{"topic": "tides"}], assertions=[judge], total_calls=1)
    completed = RunCompleted(run_id=stream.run_id, status="completed", succeeded=1, failed=0)
    # Something else took version 1 of the run's evaluation stream: every append of the
    # worker's claim conflicts AFTER the judge was asked, so the claim rolls back, is retried,
    # then its result dead-lettered (ADR 0022).
    blocker = (
        "INSERT INTO events (stream_id, stream_type, version, event_id, event_type, data, "
        "metadata) VALUES (:id, 'test', 1, gen_random_uuid(), 'test.blocker', '{}', '{}')"
    )
    async with harness.engine.begin() as connection:
        await connection.execute(text(blocker), {"id": str(stream.run_id)})
    await harness.produce([stream.record(e) for e in [created, good, completed]])
    await harness.wait_for_offsets(3)
    async with asyncio.timeout(60):
        while not await harness.scalar("SELECT count(*) FROM dead_letters"):
            await asyncio.sleep(0.1)
    # The result; the completion was taken (the run waits for its last result).
    assert await harness.scalar("SELECT event_type FROM dead_letters") == good.event_type
    # Tried three times: the judge was asked (and paid) once.
    assert len(fake.requests) == 1
    assert await harness.scalar("SELECT count(*) FROM kept_judgements") == 1

    async with harness.engine.begin() as connection:
        await connection.execute(text("DELETE FROM events WHERE event_type = 'test.blocker'"))
    replayed = await harness.client.post(
        "/admin/dead-letters/replay", headers={**service_headers(), "X-Actor": "ops"}
    )
    assert replayed.status_code == 200, replayed.text
    async with asyncio.timeout(60):
        out = await harness.read(EVALUATION_EVENTS, lambda got: len(got) >= 2)
    [evaluated] = [e.event for e in out if isinstance(e.event, ResultEvaluated)]
    [judgement] = evaluated.judgements
    assert (judgement.score, judgement.attempts) == (75.0, 1)  # the kept answer
    assert len(fake.requests) == 1  # not asked again
    # Committed: the kept judgement is no longer needed.
    assert await harness.scalar("SELECT count(*) FROM kept_judgements") == 0


async def test_a_judge_calls_its_runs_project_provider(
    judged: tuple[Harness, FakeOpenAI, str],
) -> None:
    """A judge names a provider by name; the name is looked up in its run's project's catalog
    (the evaluator sends the run's project): project b's ``acme`` judges b's run with b's key,
    and a run in ``default`` naming ``acme`` gets a judge error, never b's provider."""
    harness, fake, orchestrator_url = judged
    acme = {"name": "acme", "base_url": fake.base_url, "api_key_env": "B_API_KEY"}
    async with httpx.AsyncClient(base_url=orchestrator_url) as orchestrator:
        registered = await orchestrator.post(
            "/providers", json=acme, headers={**service_headers(), "X-Project": "b"}
        )
        assert registered.status_code == 201, registered.text
    judge = [{"type": "llm_judge", "provider": "acme", "model": "judge-1", "threshold": 60}]
    in_b, in_default = RunStream(), RunStream()
    records = []
    for stream, project in ((in_b, "b"), (in_default, "default")):
        created = run_created(
            stream, cases=[{}], assertions=judge, total_calls=1, project_id=project
        )
        done = RunCompleted(run_id=stream.run_id, status="completed", succeeded=1, failed=0)
        records += [stream.record(e) for e in (created, result(stream, 0, "GOOD"), done)]
    await harness.produce(records)
    async with asyncio.timeout(90):
        out = await harness.read(EVALUATION_EVENTS, lambda got: len(got) >= 4)
    by_run = {e.event.run_id: e.event for e in out if isinstance(e.event, ResultEvaluated)}
    [b_judgement] = by_run[in_b.run_id].judgements
    assert (b_judgement.score, b_judgement.error) == (75.0, None)
    [default_judgement] = by_run[in_default.run_id].judgements
    assert default_judgement.score is None
    assert default_judgement.error is not None and "acme" in default_judgement.error
    assert fake.authorizations == [f"Bearer {B_KEY}"]  # one call, with b's credential


async def test_embedding_similarity_embeds_each_text_once_per_run(
    judged: tuple[Harness, FakeOpenAI, str],
) -> None:
    """Embedding cosine similarity through run-orchestrator's ``/internal/embeddings`` and the
    loopback OpenAI fake's ``/v1/embeddings``: against the case's expected output (embedded
    once for all repetitions) or a templated text; priced by input tokens on the result that
    caused the call; errors fail with no similarity."""
    harness, fake, _ = judged
    stream = RunStream()
    assertions = [
        {
            "type": "embedding_similarity",
            "provider": "judgeco",
            "model": "embed-1",
            "threshold": 0.5,
        },
        {
            "type": "embedding",
            "name": "mock_embedding",
            "provider": "mock",
            "model": "any",
            "value": "{{ topic }} and the moon",
            "threshold": -1,
            "weight": 0,
        },
        {"type": "embedding", "name": "lost", "provider": "nowhere", "model": "m", "weight": 0},
    ]
    expected = ["the tide rises with the moon", "the moon orbits the earth"]
    created = run_created(
        stream,
        cases=[{"topic": "tides"}, {"topic": "orbits"}],
        assertions=assertions,
        total_calls=4,
    ).model_copy(update={"expected": expected, "repetitions": 2})
    same = result(stream, 0, "the tide rises with the moon")
    again = result(stream, 0, "the tide rises with the moon").model_copy(update={"repetition": 2})
    off = result(stream, 1, "bananas are yellow")
    failed = result(stream, 1, None, error="provider timeout").model_copy(update={"repetition": 2})
    completed = RunCompleted(run_id=stream.run_id, status="completed", succeeded=3, failed=1)
    records = [stream.record(e) for e in [created, same, again, off, failed, completed]]
    await harness.produce(records)
    async with asyncio.timeout(90):
        out = await harness.read(EVALUATION_EVENTS, lambda got: len(got) >= 5)
    evaluated = {e.event.result_id: e.event for e in out if isinstance(e.event, ResultEvaluated)}

    # Three distinct texts for judgeco's model, each embedded once (one input per call).
    embedded = [body["input"] for body in fake.embedding_requests]
    assert sorted(text for inputs in embedded for text in inputs) == sorted(
        ["the tide rises with the moon", "the moon orbits the earth", "bananas are yellow"]
    )
    assert all(len(inputs) == 1 for inputs in embedded)
    assert {body["model"] for body in fake.embedding_requests} == {"embed-1"}
    assert fake.authorizations == [f"Bearer {KEY}"] * 3

    def comparison(result_id: Any, name: str) -> Any:
        return next(c for c in evaluated[result_id].embeddings if c.name == name)

    # Equal to its reference: 1.0, and the call (6 words) is paid by the first repetition.
    first = comparison(same.result_id, "embedding_similarity_0")
    assert first.similarity == pytest.approx(1.0) and first.error is None
    assert first.usage.prompt_tokens == 6
    assert first.cost is not None and first.cost.amount == 6 * PRICE_EMBED / 1_000_000
    second = comparison(again.result_id, "embedding_similarity_0")
    assert second.similarity == pytest.approx(1.0)
    assert (second.usage.total_tokens, second.cost) == (0, None)  # cached: nothing paid again
    assert evaluated[same.result_id].passed is True

    # Unrelated words: similarity 0 < 0.5 fails, with the measured value in the reasons.
    low = comparison(off.result_id, "embedding_similarity_0")
    assert low.similarity == pytest.approx(0.0)
    assert low.usage.prompt_tokens == 3 + 5  # its output and its case's reference
    [reason] = evaluated[off.result_id].reasons
    assert (reason.name, reason.type, reason.threshold) == (
        "embedding_similarity_0",
        "embedding_similarity",
        0.5,
    )
    metric = {m.name: m for m in evaluated[off.result_id].metrics}["embedding_similarity_0"]
    assert metric.value == pytest.approx(0.0) and metric.passed is False

    # The mock's deterministic vectors against a templated text; free.
    mock = comparison(same.result_id, "mock_embedding")
    assert mock.similarity is not None and 0 < mock.similarity < 1
    assert mock.cost is not None and mock.cost.amount == 0

    # An unknown provider: an error, never a similarity.
    lost = comparison(same.result_id, "lost")
    assert lost.similarity is None
    assert lost.error is not None and "provider 'nowhere' is not configured" in lost.error

    # No output: not embedded, fails with why.
    assert evaluated[failed.result_id].embeddings == []
    failed_metric = {m.name: m for m in evaluated[failed.result_id].metrics}
    assert failed_metric["embedding_similarity_0"].detail == "no output: provider timeout"

    # The run's evaluation spend includes the embeddings.
    [run] = [e.event for e in out if isinstance(e.event, RunEvaluated)]
    assert run.judge_cost is not None
    assert run.judge_cost.amount == (6 + 3 + 5) * PRICE_EMBED / 1_000_000
    summary = {s.name: s for s in run.summaries}["embedding_similarity_0"]
    assert (summary.count, summary.passed) == (3, 2)


async def test_advice_is_grounded_retried_when_malformed_and_failed_when_never_usable(
    judged: tuple[Harness, FakeOpenAI, str],
) -> None:
    """Optimisation advice on a finished run: the judge sees the template, the summary and the
    failing results; a malformed answer and a revision with an unknown variable are asked
    again, then advice is recorded; an adviser that never answers usably is a failure."""
    harness, fake, _ = judged
    stream = RunStream()
    created = run_created(
        stream,
        cases=[{"city": "Paris"}, {"city": "Lyon"}],
        assertions=[{"type": "contains", "value": "France"}],
        total_calls=2,
    )
    results = [result(stream, 0, "Paris is in France"), result(stream, 1, "No idea")]
    completed = RunCompleted(run_id=stream.run_id, status="completed", succeeded=2, failed=0)
    running = RunStream()
    unfinished = run_created(running, cases=[{}], assertions=[], total_calls=1)
    records = [stream.record(e) for e in [created, *results, completed]]
    await harness.produce([*records, running.record(unfinished)])
    async with asyncio.timeout(60):
        await harness.read(
            EVALUATION_EVENTS, lambda got: any(isinstance(e.event, RunEvaluated) for e in got)
        )
    headers = {**service_headers(), "X-Actor": "ana"}
    ask = {"provider": "judgeco", "model": "judge-1", "focus": "make it usable"}
    given = await harness.client.post(f"/runs/{stream.run_id}/advice", json=ask, headers=headers)
    assert given.status_code == 202, given.text
    never = await harness.client.post(
        f"/runs/{stream.run_id}/advice",
        json={**ask, "focus": None, "max_attempts": 2},
        headers=headers,
    )
    assert never.status_code == 202, never.text
    # Refused before anything is recorded: unfinished, another project's, unknown.
    early = await harness.client.post(f"/runs/{running.run_id}/advice", json=ask, headers=headers)
    assert early.status_code == 409
    assert early.json()["errors"][0]["type"] == "run_unfinished"
    elsewhere = await harness.client.post(
        f"/runs/{stream.run_id}/advice", json=ask, headers={**headers, "X-Project": "b"}
    )
    assert elsewhere.status_code == 404
    async with asyncio.timeout(90):
        out = await harness.read(
            EVALUATION_EVENTS,
            lambda got: sum(isinstance(e.event, AdviceGiven | AdviceFailed) for e in got) >= 2,
        )
    by_id = {
        e.event.advice_id: e.event
        for e in out
        if isinstance(e.event, AdviceRequested | AdviceGiven | AdviceFailed)
        and not isinstance(e.event, AdviceRequested)
    }
    [requested] = [
        e.event
        for e in out
        if isinstance(e.event, AdviceRequested)
        and str(e.event.advice_id) == given.json()["advice_id"]
    ]
    assert (requested.actor, requested.focus, requested.model.name) == (
        "ana",
        "make it usable",
        "judge-1",
    )
    assert requested.prompt_version_number == 1

    advice = by_id[UUID(given.json()["advice_id"])]
    assert isinstance(advice, AdviceGiven)
    assert advice.attempts == 3
    assert advice.advice.overall_advice == ADVICE["overall_advice"]
    assert advice.advice.prompt_revision.model_dump() == {
        "kind": "text",
        "text": "Where is {{ city }}? Answer as JSON with `city` and `country`.",
    }
    assert advice.advice.validation_plan.startswith("Run the same cases")
    assert advice.cost is not None and advice.cost.amount > 0
    # What the adviser was shown: structured output, the template, the summary, the failure.
    asked = [b for b in fake.requests if "make it usable" in b["messages"][1]["content"]]
    assert len(asked) == 3
    assert asked[0]["response_format"]["json_schema"]["name"] == "optimisation_advice"
    question = asked[0]["messages"][1]["content"]
    assert "Where is {{ city }}? Answer as JSON." in question
    assert "pass rate: 0.500" in question
    assert "case 1, repetition 1" in question and "No idea" in question
    assert "Paris is in France" not in question  # passing results are not quoted
    assert "not JSON" in asked[1]["messages"][3]["content"]
    assert "['town']" in asked[2]["messages"][5]["content"]

    failed = by_id[UUID(never.json()["advice_id"])]
    assert isinstance(failed, AdviceFailed)
    assert failed.attempts == 2
    assert "no usable advice in 2 attempt(s)" in failed.error and "town" in failed.error
    assert failed.usage.total_tokens > 0
