"""Append-only event store with a transactional outbox, in the service's own PostgreSQL database.

``append`` writes the events and their outbox rows inside the caller's transaction: either the
command's events are stored AND queued for Kafka, or neither. Nothing is published from here.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.envelope import Envelope
from promptworks_contracts.events import DomainEvent, decode_event
from promptworks_eventkit.settings import KafkaSettings
from promptworks_eventkit.tables import events, outbox

OUTBOX_CHANNEL = "promptworks_outbox"
"""NOTIFY channel the relay listens on; notifications are delivered at commit."""


class ConcurrencyConflictError(Exception):
    """Another writer appended to the stream first: the expected version is stale."""

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        super().__init__(
            f"stream {stream_id} is at version {actual}, the command expected {expected}"
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True)
class MessageContext:
    """Where a command came from: copied into every event it causes."""

    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    causation_id: str | None = None
    traceparent: str | None = None


@dataclass(frozen=True)
class StoredEvent:
    envelope: Envelope
    event: DomainEvent


class EventStore:
    def __init__(self, source: str, kafka: KafkaSettings) -> None:
        self._source = source
        self._kafka = kafka

    async def version(self, session: AsyncSession, stream_id: str) -> int:
        """The stream's current version; 0 when it has no events."""
        query = select(func.coalesce(func.max(events.c.version), 0)).where(
            events.c.stream_id == stream_id
        )
        return int((await session.execute(query)).scalar_one())

    async def load(self, session: AsyncSession, stream_id: str) -> list[StoredEvent]:
        rows = await session.execute(
            select(events.c.event_type, events.c.data, events.c.metadata)
            .where(events.c.stream_id == stream_id)
            .order_by(events.c.version)
        )
        return [
            StoredEvent(Envelope.model_validate(meta), decode_event(kind, json.dumps(data)))
            for kind, data, meta in rows
        ]

    async def append(
        self,
        session: AsyncSession,
        stream_id: str,
        new_events: Sequence[DomainEvent],
        expected_version: int,
        context: MessageContext,
    ) -> list[Envelope]:
        """Appends ``new_events`` after ``expected_version`` and queues them in the outbox.

        Raises ``ConcurrencyConflictError`` when the stream moved on. The check before the
        insert gives a clear message; the unique constraint is what makes it race-free.
        """
        if not new_events:
            return []
        actual = await self.version(session, stream_id)
        if actual != expected_version:
            raise ConcurrencyConflictError(stream_id, expected_version, actual)
        now = datetime.now(UTC)
        event_rows: list[dict[str, object]] = []
        outbox_rows: list[dict[str, object]] = []
        envelopes: list[Envelope] = []
        for offset, event in enumerate(new_events, start=1):
            envelope = Envelope(
                id=uuid.uuid4(),
                type=event.event_type,
                source=self._source,
                subject=stream_id,
                time=now,
                correlationid=context.correlation_id,
                causationid=context.causation_id,
                streamversion=expected_version + offset,
                traceparent=context.traceparent,
            )
            data = event.model_dump(mode="json")
            envelopes.append(envelope)
            event_rows.append(
                {
                    "stream_id": stream_id,
                    "stream_type": event.topic,
                    "version": envelope.streamversion,
                    "event_id": envelope.id,
                    "event_type": envelope.type,
                    "data": data,
                    "metadata": envelope.model_dump(mode="json"),
                    "recorded_at": now,
                }
            )
            outbox_rows.append(
                {
                    "event_id": envelope.id,
                    "topic": self._kafka.topic(event.topic),
                    "key": stream_id,
                    "headers": [[k, v.decode()] for k, v in envelope.to_kafka_headers()],
                    "value": json.dumps(data, separators=(",", ":")).encode(),
                }
            )
        try:
            async with session.begin_nested():
                await session.execute(insert(events), event_rows)
        except IntegrityError as error:
            if "uq_events_stream_version" not in str(error.orig):
                raise
            raise ConcurrencyConflictError(
                stream_id, expected_version, await self.version(session, stream_id)
            ) from error
        await session.execute(insert(outbox), outbox_rows)
        await session.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
        return envelopes
