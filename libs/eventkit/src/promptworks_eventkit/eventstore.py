"""Append-only event store with a transactional outbox, in the service's own PostgreSQL database.

``append`` writes the events and their outbox rows inside the caller's transaction: either the
command's events are stored AND queued for Kafka, or neither. Nothing is published from here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Text, bindparam, cast, func, insert, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.envelope import Envelope
from promptworks_contracts.events import DomainEvent, decode_event
from promptworks_eventkit.errors import ConcurrencyConflictError
from promptworks_eventkit.messages import MessageContext, StoredEvent, new_envelopes
from promptworks_eventkit.settings import KafkaSettings
from promptworks_eventkit.tables import events, outbox

INSERT_EVENTS = insert(events).values(
    data=cast(bindparam("data_json", type_=Text), JSONB),
    metadata=cast(bindparam("metadata_json", type_=Text), JSONB),
)
"""The events' JSON goes to PostgreSQL as the text pydantic made, parsed into JSONB there."""

OUTBOX_CHANNEL = "promptworks_outbox"
"""NOTIFY channel the relay listens on; notifications are delivered at commit."""


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

    async def load(
        self,
        session: AsyncSession,
        stream_id: str,
        *,
        from_version: int = 1,
        to_version: int | None = None,
    ) -> list[StoredEvent]:
        query = select(events.c.event_type, events.c.data, events.c.metadata).where(
            events.c.stream_id == stream_id, events.c.version >= from_version
        )
        if to_version is not None:
            query = query.where(events.c.version <= to_version)
        rows = await session.execute(query.order_by(events.c.version))
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
        envelopes = new_envelopes(
            self._source, stream_id, new_events, expected_version, context, now
        )
        for envelope, event in zip(envelopes, new_events, strict=True):
            # Serialised once, by pydantic (compiled): the same JSON is the stored event and
            # the Kafka message (json.dumps of model_dump, twice, cost ~6x more; ADR 0021).
            data = event.model_dump_json()
            event_rows.append(
                {
                    "stream_id": stream_id,
                    "stream_type": event.topic,
                    "version": envelope.streamversion,
                    "event_id": envelope.id,
                    "event_type": envelope.type,
                    "data_json": data,
                    "metadata_json": envelope.model_dump_json(),
                    "recorded_at": now,
                }
            )
            outbox_rows.append(
                {
                    "event_id": envelope.id,
                    "topic": self._kafka.topic(event.topic),
                    "key": stream_id,
                    "headers": [[k, v.decode()] for k, v in envelope.to_kafka_headers()],
                    "value": data.encode(),
                }
            )
        try:
            async with session.begin_nested():
                await session.execute(INSERT_EVENTS, event_rows)
        except IntegrityError as error:
            if "uq_events_stream_version" not in str(error.orig):
                raise
            raise ConcurrencyConflictError(
                stream_id, expected_version, await self.version(session, stream_id)
            ) from error
        await session.execute(insert(outbox), outbox_rows)
        await session.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
        return envelopes
