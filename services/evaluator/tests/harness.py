"""Helpers to feed the evaluator run events the way run-orchestrator's relay publishes them
(binary-mode CloudEvents on Kafka, or ``ReceivedEvent``s handed straight to the handlers), to read
what it produced, and the checks both the Kafka and the in-memory tests make of it. Callers bound
waits with ``asyncio.timeout``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from evaluator.handlers.evaluation import CONSUMER_NAME
from promptworks_contracts.envelope import Envelope
from promptworks_contracts.events import (
    DomainEvent,
    ResultEvaluated,
    ResultRecorded,
    RunCompleted,
    RunCreated,
    RunEvaluated,
    decode_event,
)
from promptworks_contracts.topics import RUN_EVENTS
from promptworks_contracts.values import MetricValue, ModelParameters, ModelRef, TextTemplate
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.settings import KafkaSettings

WORDS = [
    "the",
    "river",
    "and",
    "mountain",
    "city",
    "old",
    "new",
    "bright",
    "quiet",
    "people",
    "walk",
    "along",
    "road",
]
"""The words of the generated runs' outputs and expected outputs (BLEU and ROUGE-L have
something to match)."""


@dataclass(frozen=True)
class Record:
    """One CloudEvent as it travels on Kafka; kept so that it can be re-sent byte for byte."""

    key: bytes
    headers: list[tuple[str, bytes]]
    value: bytes


@dataclass
class RunStream:
    """Builds one run's events with contiguous stream versions, as the event store would."""

    run_id: uuid.UUID = field(default_factory=uuid.uuid4)
    version: int = 0
    traceparent: str | None = None

    def envelope(self, event: DomainEvent) -> Envelope:
        """The next event's envelope (the stream moves one version on)."""
        self.version += 1
        return Envelope(
            id=uuid.uuid4(),
            type=event.event_type,
            source="/run-orchestrator",
            subject=str(self.run_id),
            time=datetime.now(UTC),
            correlationid=f"corr-{self.run_id}",
            streamversion=self.version,
            traceparent=self.traceparent,
        )

    def record(self, event: DomainEvent) -> Record:
        return Record(
            key=str(self.run_id).encode(),
            headers=self.envelope(event).to_kafka_headers(),
            value=event.model_dump_json().encode(),
        )

    def receive(self, event: DomainEvent, offset: int = 0) -> ReceivedEvent:
        """The event as the consumer runner hands it to the handlers."""
        return ReceivedEvent(RUN_EVENTS, 0, offset, self.envelope(event), event)


CITY_SCHEMA = {
    "type": "object",
    "required": ["city"],
    "properties": {"city": {"type": "string"}},
}
ASSERTIONS: list[dict[str, Any]] = [
    {"type": "contains", "value": "{{ city }}", "name": "mentions_city"},
    {"type": "json_schema", "schema": CITY_SCHEMA},
    {"type": "regex", "pattern": r'"city"\s*:'},
]


def run_created(
    stream: RunStream,
    *,
    cases: list[dict[str, Any]],
    assertions: list[dict[str, Any]],
    total_calls: int,
    project_id: str = "default",
) -> RunCreated:
    return RunCreated.model_validate(
        {
            "run_id": stream.run_id,
            "project_id": project_id,
            "prompt_id": uuid.uuid4(),
            "prompt_version_id": uuid.uuid4(),
            "prompt_version_number": 1,
            "template": TextTemplate(text="Where is {{ city }}? Answer as JSON."),
            "model": ModelRef(provider="mock", name="echo"),
            "parameters": ModelParameters(),
            "repetitions": max(1, total_calls // max(1, len(cases))),
            "cases": cases,
            "assertions": assertions,
            "total_calls": total_calls,
        }
    )


def result(
    stream: RunStream,
    case: int,
    output: str | None,
    *,
    latency: float = 100.0,
    error: str | None = None,
) -> ResultRecorded:
    return ResultRecorded.model_validate(
        {
            "run_id": stream.run_id,
            "result_id": uuid.uuid4(),
            "case_index": case,
            "repetition": 1,
            "output": output,
            "latency_ms": latency,
            "usage": {"prompt_tokens": 8, "completion_tokens": 4, "total_tokens": 12},
            "error": error,
        }
    )


@dataclass(frozen=True)
class SampleRun:
    """RunCreated (2 cases; contains + json_schema + regex), 4 results (one failed),
    RunCompleted: stream versions 1..6 once turned into records or received events."""

    stream: RunStream
    results: list[ResultRecorded]
    events: list[DomainEvent]


def sample_run() -> SampleRun:
    stream = RunStream()
    results = [
        result(stream, 0, '{"city": "Paris"}', latency=100.0),  # passes all three
        result(stream, 1, '{"city": 5}', latency=200.0),  # no "Rome"; city not a string
        result(stream, 0, "Paris, of course", latency=300.0),  # not JSON, no "city":
        result(stream, 1, None, latency=400.0, error="provider timeout"),
    ]
    created = run_created(
        stream, cases=[{"city": "Paris"}, {"city": "Rome"}], assertions=ASSERTIONS, total_calls=4
    )
    completed = RunCompleted(run_id=stream.run_id, status="completed", succeeded=3, failed=1)
    return SampleRun(stream, results, [created, *results, completed])


class Emitted(Protocol):
    """An evaluation event as read from Kafka (``Received``) or from a write port's outbox."""

    @property
    def envelope(self) -> Envelope: ...

    @property
    def event(self) -> DomainEvent: ...


def check_sample_evaluated(out: Sequence[Emitted], sample: SampleRun, completion_id: str) -> None:
    """What the evaluator must have appended for ``sample_run()``: 4 ResultEvaluated with their
    metrics, then the RunEvaluated (caused by the completion ``completion_id``)."""
    stream, results = sample.stream, sample.results
    assert len(out) == 5
    assert [r.envelope.streamversion for r in out] == [1, 2, 3, 4, 5]
    assert {r.envelope.subject for r in out} == {str(stream.run_id)}
    assert {r.envelope.source for r in out} == {"/evaluator"}
    assert {r.envelope.correlationid for r in out} == {f"corr-{stream.run_id}"}
    evaluated = [r.event for r in out[:4]]
    assert all(isinstance(e, ResultEvaluated) for e in evaluated)
    assert [e.result_id for e in evaluated if isinstance(e, ResultEvaluated)] == [
        r.result_id for r in results
    ]
    # One append answers several results: no single cause is named.
    assert {r.envelope.causationid for r in out[:4]} == {None}

    metrics = [metrics_of(r) for r in out[:4]]
    assert list(metrics[0]) == [
        "latency_ms",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "output_chars",
        "tokens_per_second",
        "error",
        # The run has a JSON Schema: the original product's metrics apply.
        "is_valid_json",
        "schema_pass",
        "missing_fields",
        "type_mismatches",
        "numeric_accuracy",
        "boolean_accuracy",
        "mentions_city",
        "json_schema_1",
        "regex_2",
    ]
    first, second, third, failed = metrics
    assert [first[n].passed for n in ("mentions_city", "json_schema_1", "regex_2")] == [True] * 3
    assert first["latency_ms"].value == 100.0 and first["output_chars"].value == 17.0
    assert first["tokens_per_second"].value == 40.0 and first["error"].value == 0.0
    assert second["mentions_city"].detail == "output does not contain 'Rome'"
    assert second["json_schema_1"].detail == "$.city: 5 is not of type 'string'"
    assert second["regex_2"].passed is True
    assert third["mentions_city"].passed is True
    assert third["json_schema_1"].detail == "not JSON: Expecting value: line 1 column 1 (char 0)"
    assert third["regex_2"].detail == r'no match for /"city"\s*:/'
    assert (failed["error"].value, failed["error"].passed) == (1.0, False)
    for name in ("mentions_city", "json_schema_1", "regex_2"):
        assert (failed[name].value, failed[name].passed) == (0.0, False)
        assert failed[name].detail == "no output: provider timeout"

    check_sample_verdicts([r.event for r in out[:4]])
    run = out[4]
    assert isinstance(run.event, RunEvaluated)
    assert run.envelope.causationid == completion_id
    assert run.event.evaluated == 4
    summary = {s.name: s for s in run.event.summaries}
    assert summary["mentions_city"].pass_rate == 0.5
    assert summary["json_schema_1"].pass_rate == 0.25
    assert summary["regex_2"].pass_rate == 0.5
    assert summary["error"].pass_rate == 0.75
    latency = summary["latency_ms"]
    assert (latency.count, latency.mean, latency.min, latency.max) == (4, 250.0, 100.0, 400.0)
    assert (summary["output_chars"].count, summary["tokens_per_second"].count) == (3, 3)
    check_sample_statistics(run.event)


def check_sample_verdicts(evaluated: Sequence[DomainEvent]) -> None:
    first, second, third, failed = evaluated
    assert isinstance(first, ResultEvaluated) and isinstance(second, ResultEvaluated)
    assert isinstance(third, ResultEvaluated) and isinstance(failed, ResultEvaluated)
    assert (first.passed, first.score, first.reasons) == (True, 1.0, [])
    assert first.parsed_output == {"city": "Paris"}
    assert first.output_checks is not None and first.output_checks.schema_pass is True
    assert second.passed is False and second.score == 1 / 3
    assert [(r.name, r.type) for r in second.reasons] == [
        ("mentions_city", "contains"),
        ("json_schema_1", "json_schema"),
    ]
    assert second.reasons[0].detail == "output does not contain 'Rome'"
    checks = second.output_checks
    assert checks is not None and (checks.is_valid_json, checks.schema_pass) == (True, False)
    assert [(m.path, m.expected, m.actual) for m in checks.type_mismatches] == [
        ("/city", "string", "integer")
    ]
    assert [r.name for r in third.reasons] == ["json_schema_1", "regex_2"]
    assert third.parsed_output is None
    assert third.output_checks is not None and third.output_checks.is_valid_json is False
    assert [r.name for r in failed.reasons] == [
        "error",
        "mentions_city",
        "json_schema_1",
        "regex_2",
    ]
    assert failed.reasons[0].detail == "provider timeout" and failed.score == 0.0


def check_sample_statistics(run: RunEvaluated) -> None:
    """Figures computed by hand for ``sample_run()`` (see the comments)."""
    assert (run.passed, run.pass_rate) == (1, 0.25)
    # Wilson, 1 of 4 (as statsmodels' proportion_confint(1, 4, method="wilson") gives it).
    assert run.pass_rate_interval is not None
    assert run.pass_rate_interval.low == pytest.approx(0.045587, abs=1e-6)
    assert run.pass_rate_interval.high == pytest.approx(0.699358, abs=1e-6)
    # Latencies 100, 200, 300, 400: p95 at rank 2.85 -> 385, p99 at rank 2.97 -> 397.
    assert run.latency is not None
    latency = run.latency
    assert (latency.count, latency.mean, latency.p50, latency.max) == (4, 250.0, 250.0, 400.0)
    assert (latency.p95, latency.p99) == (pytest.approx(385.0), pytest.approx(397.0))
    assert run.tokens is not None
    assert (run.tokens.prompt_tokens, run.tokens.completion_tokens) == (32, 16)
    assert (run.cost, run.uncosted) == (None, 4)
    # Case 0: one pass, one fail (flaky); case 1: two fails. pass@1 = (1/2 + 0) / 2,
    # pass@2 = (1 + 0) / 2. Consistency: case 0's two outputs differ (1/2); case 1 has one.
    cases = run.cases
    assert cases is not None
    assert (cases.cases, cases.repeated, cases.flaky, cases.flaky_cases) == (2, 2, 1, [0])
    assert cases.flakiness == 0.5
    assert [(p.k, p.value, p.cases) for p in cases.pass_at_k] == [(1, 0.25, 2), (2, 0.5, 2)]
    assert cases.consistency_score == 0.5
    # Per assertion: mentions_city passed 2 of 4: Wilson (0.150039, 0.849961).
    summary = {s.name: s for s in run.summaries}
    interval = summary["mentions_city"].pass_rate_interval
    assert interval is not None and (
        summary["mentions_city"].judged,
        summary["mentions_city"].passed,
    ) == (4, 2)
    assert (interval.low, interval.high) == (
        pytest.approx(0.150039, abs=1e-6),
        pytest.approx(0.849961, abs=1e-6),
    )


def metrics_of(emitted: Emitted) -> dict[str, MetricValue]:
    assert isinstance(emitted.event, ResultEvaluated)
    return {m.name: m for m in emitted.event.metrics}


@dataclass
class Received:
    envelope: Envelope
    event: DomainEvent
    headers: dict[str, bytes]


Until = Callable[[list["Received"]], bool]


@dataclass
class Harness:
    kafka: KafkaSettings
    engine: AsyncEngine
    client: httpx.AsyncClient
    producer: AIOKafkaProducer

    async def produce(self, records: Sequence[Record], partition: int | None = None) -> None:
        sends = [
            await self.producer.send(
                self.kafka.topic(RUN_EVENTS),
                key=r.key,
                value=r.value,
                headers=r.headers,
                partition=partition,
            )
            for r in records
        ]
        await asyncio.gather(*sends)

    async def read(self, topic: str, until: Until | None = None) -> list[Received]:
        """Reads ``topic`` from the start until ``until(received)`` holds, or by default up
        to the end offsets it has now."""
        physical = self.kafka.topic(topic)
        # Assigned, not subscribed: no group join, so reading starts at once.
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.kafka.bootstrap_servers, enable_auto_commit=False
        )
        await consumer.start()
        received: list[Received] = []
        try:
            partitions = [TopicPartition(physical, p) for p in range(self.kafka.topic_partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            if until is None:
                total = sum((await consumer.end_offsets(partitions)).values())
                until = lambda got: len(got) >= total  # noqa: E731
            while not until(received):
                for messages in (await consumer.getmany(timeout_ms=200)).values():
                    received.extend(_decode(m) for m in messages)
        finally:
            await consumer.stop()
        return received

    async def wait_for_offsets(self, total: int) -> None:
        """Until the consumer's stored offsets on the run topic add up to ``total`` records."""
        while True:
            stored = await self.scalar(
                "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets "
                "WHERE consumer = :consumer AND topic = :topic",
                consumer=CONSUMER_NAME,
                topic=RUN_EVENTS,
            )
            if stored >= total:
                return
            await asyncio.sleep(0.1)

    async def wait_for_outbox_drained(self) -> None:
        while True:
            if not await self.scalar("SELECT count(*) FROM outbox"):
                return
            await asyncio.sleep(0.1)

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as connection:
            return (await connection.execute(text(sql), params)).scalar_one()

    async def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        async with self.engine.connect() as connection:
            return [tuple(row) for row in await connection.execute(text(sql), params)]


def _decode(message: Any) -> Received:
    envelope = Envelope.from_kafka_headers(message.headers)
    return Received(envelope, decode_event(envelope.type, message.value), dict(message.headers))
