"""The "evaluator.runs" consumer end to end: run events in on real Kafka, evaluation events
out through the outbox relay, state in real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from promptworks_contracts.events import ResultEvaluated, RunCompleted, RunEvaluated, RunFailed
from promptworks_contracts.topics import EVALUATION_EVENTS, RUN_EVENTS, dlq_topic
from services.evaluator.tests.harness import (
    Harness,
    Record,
    RunStream,
    SampleRun,
    check_sample_evaluated,
    result,
    run_created,
    sample_run,
)

pytestmark = pytest.mark.integration


def sample_records() -> tuple[SampleRun, list[Record]]:
    sample = sample_run()
    return sample, [sample.stream.record(e) for e in sample.events]


def count_of(n: int) -> Any:
    return lambda got: len(got) >= n


async def test_results_are_evaluated_and_the_run_is_summarised(evaluator: Harness) -> None:
    sample, records = sample_records()
    await evaluator.produce(records)
    async with asyncio.timeout(60):
        out = await evaluator.read(EVALUATION_EVENTS, count_of(5))
    check_sample_evaluated(out, sample, completion_id=_ce_id(records[-1]))
    run = out[4].event
    assert isinstance(run, RunEvaluated)

    response = await evaluator.client.get(f"/runs/{sample.stream.run_id}/summary")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["evaluated"], body["stream_version"]) == ("completed", 4, 5)
    assert body["summaries"] == [s.model_dump(mode="json") for s in run.summaries]


async def test_redelivered_events_change_nothing(evaluator: Harness) -> None:
    _, records = sample_records()
    await evaluator.produce(records)
    async with asyncio.timeout(60):
        await evaluator.read(EVALUATION_EVENTS, count_of(5))
        await evaluator.wait_for_offsets(len(records))
        await evaluator.wait_for_outbox_drained()
    before = await _state(evaluator)

    # A relay that crashed between publishing and marking re-sends the same CloudEvents.
    await evaluator.produce(records)
    async with asyncio.timeout(60):
        await evaluator.wait_for_offsets(2 * len(records))
        await evaluator.wait_for_outbox_drained()
        out = await evaluator.read(EVALUATION_EVENTS)
    assert len(out) == 5
    assert await _state(evaluator) == before
    assert await evaluator.scalar("SELECT count(*) FROM events") == 5


async def test_a_result_of_an_unknown_run_is_dead_lettered_and_the_consumer_goes_on(
    evaluator: Harness,
) -> None:
    unknown = RunStream()
    poison = unknown.record(result(unknown, 0, "orphan"))
    valid = RunStream()
    valid_records = [
        valid.record(run_created(valid, cases=[], assertions=[], total_calls=1)),
        valid.record(result(valid, 0, "fine")),
        valid.record(RunCompleted(run_id=valid.run_id, status="completed", succeeded=1, failed=0)),
    ]
    # One partition, poison first: the valid events queue up behind it.
    await evaluator.produce([poison, *valid_records], partition=0)

    async with asyncio.timeout(60):
        dead = await evaluator.read(dlq_topic(RUN_EVENTS), count_of(1))
        out = await evaluator.read(EVALUATION_EVENTS, count_of(2))
    assert dead[0].envelope.id == uuid.UUID(_ce_id(poison))
    error = dead[0].headers["dlq_error"].decode()
    assert "UnknownRunError" in error and str(unknown.run_id) in error
    assert dead[0].headers["dlq_consumer"] == b"evaluator.runs"
    rows = await evaluator.rows(
        "SELECT consumer, topic, event_id, event_type, error FROM dead_letters"
    )
    assert len(rows) == 1
    consumer, topic, event_id, event_type, stored_error = rows[0]
    assert (consumer, topic, event_id) == ("evaluator.runs", RUN_EVENTS, _ce_id(poison))
    assert event_type == "promptworks.run.result_recorded.v1"
    assert str(unknown.run_id) in stored_error

    assert [type(r.event) for r in out] == [ResultEvaluated, RunEvaluated]
    assert {r.envelope.subject for r in out} == {str(valid.run_id)}
    response = await evaluator.client.get(f"/runs/{unknown.run_id}/summary")
    assert response.status_code == 404
    assert response.json()["errors"][0]["field"] == "run_id"


async def test_a_failed_run_is_summarised_once_with_what_exists(evaluator: Harness) -> None:
    stream = RunStream()
    records = [
        stream.record(
            run_created(
                stream,
                cases=[{"city": "Oslo"}],
                assertions=[{"type": "max_latency_ms", "threshold": 150}],
                total_calls=3,
            )
        ),
        stream.record(result(stream, 0, "Oslo", latency=120.0)),
        stream.record(RunFailed(run_id=stream.run_id, reason="provider 'x' is not configured")),
        # A late end after the failure: the run was already summarised.
        stream.record(RunCompleted(run_id=stream.run_id, status="failed", succeeded=1, failed=0)),
    ]
    await evaluator.produce(records)
    async with asyncio.timeout(60):
        await evaluator.wait_for_offsets(len(records))
        await evaluator.wait_for_outbox_drained()
        out = await evaluator.read(EVALUATION_EVENTS)
    assert [type(r.event) for r in out] == [ResultEvaluated, RunEvaluated]
    run = out[1].event
    assert isinstance(run, RunEvaluated) and run.evaluated == 1
    summary = {s.name: s for s in run.summaries}
    assert summary["max_latency_ms_0"].pass_rate == 1.0
    assert out[1].envelope.causationid == _ce_id(records[2])
    body = (await evaluator.client.get(f"/runs/{stream.run_id}/summary")).json()
    assert (body["status"], body["total_calls"], body["evaluated"]) == ("failed", 3, 1)


async def test_ops_endpoints_and_bad_input(evaluator: Harness) -> None:
    assert (await evaluator.client.get("/healthz")).json() == {"status": "ok"}
    async with asyncio.timeout(30):
        while True:  # the consumer reports "starting" until it has joined its group
            ready = await evaluator.client.get("/readyz")
            if ready.status_code == 200:
                break
            await asyncio.sleep(0.1)
    assert ready.json()["checks"]["consumer:evaluator.runs"] == "ok"
    assert (await evaluator.client.get("/metrics")).status_code == 200
    bad = await evaluator.client.get("/runs/not-a-uuid/summary")
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "run_id"


def _ce_id(record: Record) -> str:
    return dict(record.headers)["ce_id"].decode()


async def _state(evaluator: Harness) -> dict[str, Any]:
    return {
        "runs": await evaluator.rows(
            "SELECT run_id, evaluated, stream_version, status FROM runs ORDER BY run_id"
        ),
        "stats": await evaluator.rows("SELECT * FROM run_metric_stats ORDER BY run_id, name"),
        "events": await evaluator.rows("SELECT event_id, version FROM events ORDER BY position"),
        "positions": await evaluator.rows(
            "SELECT stream_id, version FROM consumer_stream_positions ORDER BY stream_id"
        ),
    }
