"""Append-only event store with a transactional outbox, in the service's own PostgreSQL database.

``append`` writes the events and their outbox rows inside the caller's transaction: either the
command's events are stored AND queued for Kafka, or neither. Nothing is published from here.

One statement writes an append's events, their outbox rows and the NOTIFY (``APPEND``): the
rows go to PostgreSQL as arrays (``unnest``), which asyncpg encodes in C, so a 500-event append
costs about as much client CPU as a few single-row statements did per event (ADR 0021). The
events take their positions in version order, and an outbox row is keyed by its event's
position, so per stream outbox order is version order.

The payload is stored once (ADR 0028): ``events.data`` (``json``: the text as pydantic made
it) is both the history aggregates load from and the Kafka message the relay sends; the outbox
row holds only its event's position and topic (the Kafka headers are the envelope's, built by
the relay from ``events.metadata``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Text, cast, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.envelope import Envelope
from promptworks_contracts.events import DomainEvent, decode_event
from promptworks_eventkit.errors import ConcurrencyConflictError
from promptworks_eventkit.messages import MessageContext, StoredEvent, new_envelopes
from promptworks_eventkit.settings import KafkaSettings
from promptworks_eventkit.tables import events

OUTBOX_CHANNEL = "promptworks_outbox"
"""NOTIFY channel the relay listens on; notifications are delivered at commit."""

APPEND = text(
    """
    WITH appended AS (
        SELECT * FROM unnest(
            CAST(:stream_types AS text[]), CAST(:versions AS integer[]),
            CAST(:event_ids AS uuid[]), CAST(:event_types AS text[]),
            CAST(:data AS text[]), CAST(:metadata AS text[]), CAST(:topics AS text[])
        ) WITH ORDINALITY
        AS a(stream_type, version, event_id, event_type, data, metadata, topic, n)
    ), stored AS (
        INSERT INTO events
            (stream_id, stream_type, version, event_id, event_type, data, metadata, recorded_at)
        SELECT :stream_id, stream_type, version, event_id, event_type, CAST(data AS json),
               CAST(metadata AS json), :recorded_at
        FROM appended ORDER BY n
        RETURNING position, event_id
    ), queued AS (
        INSERT INTO outbox (position, topic)
        SELECT stored.position, appended.topic FROM stored JOIN appended USING (event_id)
    )
    SELECT pg_notify(:channel, '')
    """
)
"""The events' JSON goes to PostgreSQL as the text pydantic made and stays that text (``json``
checks it, ``jsonb`` would reparse and reorder it); as UTF-8 bytes it is the Kafka message."""


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
        # As text: pydantic parses the stored JSON once (no dict, no json.dumps in between).
        query = select(
            events.c.event_type, cast(events.c.data, Text), cast(events.c.metadata, Text)
        ).where(events.c.stream_id == stream_id, events.c.version >= from_version)
        if to_version is not None:
            query = query.where(events.c.version <= to_version)
        rows = await session.execute(query.order_by(events.c.version))
        return [
            StoredEvent(Envelope.model_validate_json(meta), decode_event(kind, data))
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
        envelopes = new_envelopes(
            self._source, stream_id, new_events, expected_version, context, now
        )
        # Serialised once, by pydantic (compiled): the same JSON is the stored event and
        # the Kafka message (json.dumps of model_dump, twice, cost ~6x more; ADR 0021).
        data = [event.model_dump_json() for event in new_events]
        parameters = {
            "stream_id": stream_id,
            "recorded_at": now,
            "channel": OUTBOX_CHANNEL,
            "stream_types": [event.topic for event in new_events],
            "versions": [envelope.streamversion for envelope in envelopes],
            "event_ids": [envelope.id for envelope in envelopes],
            "event_types": [envelope.type for envelope in envelopes],
            "data": data,
            "metadata": [envelope.model_dump_json() for envelope in envelopes],
            "topics": [self._kafka.topic(event.topic) for event in new_events],
        }
        try:
            async with session.begin_nested():
                await session.execute(APPEND, parameters)
        except IntegrityError as error:
            if "uq_events_stream_version" not in str(error.orig):
                raise
            raise ConcurrencyConflictError(
                stream_id, expected_version, await self.version(session, stream_id)
            ) from error
        return envelopes
