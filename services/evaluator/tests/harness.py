"""Helpers to feed the evaluator run events the way run-orchestrator's relay publishes them
(binary-mode CloudEvents), and to read what it produced. Callers bound waits with
``asyncio.timeout``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from evaluator.handlers import CONSUMER_NAME
from promptworks_contracts.envelope import Envelope
from promptworks_contracts.events import DomainEvent, ResultRecorded, RunCreated, decode_event
from promptworks_contracts.topics import RUN_EVENTS
from promptworks_contracts.values import ModelParameters, ModelRef, TextTemplate
from promptworks_eventkit.settings import KafkaSettings


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

    def record(self, event: DomainEvent) -> Record:
        self.version += 1
        envelope = Envelope(
            id=uuid.uuid4(),
            type=event.event_type,
            source="/run-orchestrator",
            subject=str(self.run_id),
            time=datetime.now(UTC),
            correlationid=f"corr-{self.run_id}",
            streamversion=self.version,
        )
        return Record(
            key=str(self.run_id).encode(),
            headers=envelope.to_kafka_headers(),
            value=event.model_dump_json().encode(),
        )


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
) -> RunCreated:
    return RunCreated.model_validate(
        {
            "run_id": stream.run_id,
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
            if not await self.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
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
