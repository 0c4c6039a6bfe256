"""Producing and reading real CloudEvents on Kafka in tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from promptworks_contracts.envelope import Envelope, MalformedEnvelopeError
from promptworks_contracts.events import DomainEvent
from promptworks_eventkit.settings import KafkaSettings


def envelope_for(
    event: DomainEvent, stream_version: int, event_id: uuid.UUID | None = None
) -> Envelope:
    return Envelope(
        id=event_id or uuid.uuid4(),
        type=event.event_type,
        source="/tests",
        subject=event.stream_id(),
        time=datetime.now(UTC),
        correlationid="tests",
        streamversion=stream_version,
    )


async def produce(kafka: KafkaSettings, records: Sequence[tuple[DomainEvent, Envelope]]) -> None:
    """Sends each event as a CloudEvent in binary mode, keyed by its aggregate id."""
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers,
        enable_idempotence=True,
        max_request_size=kafka.max_message_bytes,
    )
    await producer.start()
    try:
        sends = [
            await producer.send(
                kafka.topic(event.topic),
                key=envelope.subject.encode(),
                value=event.model_dump_json().encode(),
                headers=envelope.to_kafka_headers(),
            )
            for event, envelope in records
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


@dataclass(frozen=True)
class ReadRecord:
    key: bytes | None
    envelope: Envelope
    """For a record that is no CloudEvent: a placeholder of type ``promptworks.x.malformed.v0``."""
    value: bytes
    headers: list[tuple[str, bytes]]
    partition: int
    offset: int


async def read_topic(
    kafka: KafkaSettings, topic: str, count: int, timeout: float = 30.0, settle: float = 0.0
) -> list[ReadRecord]:
    """Reads the logical ``topic`` from the beginning until ``count`` records (then waits
    ``settle`` seconds more to catch extra, unwanted records)."""
    consumer = AIOKafkaConsumer(
        kafka.topic(topic),
        bootstrap_servers=kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    records: list[ReadRecord] = []

    async def drain(until: float, stop_at_count: bool) -> None:
        while asyncio.get_running_loop().time() < until:
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                records.extend(
                    ReadRecord(
                        m.key,
                        _envelope(m.headers),
                        m.value,
                        list(m.headers),
                        m.partition,
                        m.offset,
                    )
                    for m in messages
                )
            if stop_at_count and len(records) >= count:
                return

    try:
        loop = asyncio.get_running_loop()
        await drain(loop.time() + timeout, stop_at_count=True)
        if len(records) < count:
            raise AssertionError(f"read {len(records)} of {count} records from {topic}")
        if settle:
            await drain(loop.time() + settle, stop_at_count=False)
    finally:
        await consumer.stop()
    return records


_MALFORMED = Envelope(
    id=uuid.UUID(int=0),
    type="promptworks.x.malformed.v0",
    source="/none",
    subject="none",
    time=datetime.fromtimestamp(0, UTC),
    correlationid="none",
    streamversion=1,
)


def _envelope(headers: Sequence[tuple[str, bytes]]) -> Envelope:
    try:
        return Envelope.from_kafka_headers(headers)
    except MalformedEnvelopeError:
        return _MALFORMED
