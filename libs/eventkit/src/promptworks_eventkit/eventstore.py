"""Append-only event store with a transactional outbox, in the service's own PostgreSQL database.

``append`` writes the events and their outbox rows inside the caller's transaction: either the
command's events are stored AND queued for Kafka, or neither. Nothing is published from here.

One statement checks the stream's version and writes an append's events, their outbox rows
and the NOTIFY (``APPEND``: one round trip, no savepoint; ADR 0022's tenth-session addendum):
the rows go to PostgreSQL as arrays (``unnest``), which asyncpg encodes in C, so a 500-event
append costs about as much client CPU as a few single-row statements did per event (ADR 0021). The
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
from typing import Any

from sqlalchemy import Select, Text, cast, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

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
    WITH current AS (
        SELECT coalesce(max(version), 0) AS version FROM events WHERE stream_id = :stream_id
    ), appended AS (
        SELECT * FROM unnest(
            CAST(:stream_types AS text[]), CAST(:versions AS integer[]),
            CAST(:event_ids AS uuid[]), CAST(:event_types AS text[]),
            CAST(:data AS text[]), CAST(:metadata AS text[]), CAST(:topics AS text[])
        ) WITH ORDINALITY
        AS a(stream_type, version, event_id, event_type, data, metadata, topic, n)
        WHERE (SELECT version FROM current) = CAST(:expected AS integer)
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
    SELECT (SELECT version FROM current) AS actual,
        (SELECT pg_notify(:channel, '') WHERE EXISTS (SELECT FROM stored)) AS notified
    """
)
"""One round trip: the version check, the events, their outbox rows and the NOTIFY (a stale
version inserts nothing and leaves the transaction usable: no savepoint is needed for it). The
events' JSON goes to PostgreSQL as the text pydantic made and stays that text (``json`` checks
it, ``jsonb`` would reparse and reorder it); as UTF-8 bytes it is the Kafka message.

A writer that commits the same versions after this statement's snapshot (a race: both checked
the version before either inserted) makes the insert fail on ``uq_events_stream_version``: the
transaction is aborted, so nothing is written. Not ``ON CONFLICT DO NOTHING``, which would keep
it usable: its speculative insertion cost PostgreSQL ~50 % more per inserted row (bench/README,
"claim"), for a race that is rare."""


def _version_query(stream_id: str) -> Select[Any]:
    return select(func.coalesce(func.max(events.c.version), 0)).where(
        events.c.stream_id == stream_id
    )


class EventStore:
    def __init__(self, source: str, kafka: KafkaSettings) -> None:
        self._source = source
        self._kafka = kafka

    async def version(self, session: AsyncSession, stream_id: str) -> int:
        """The stream's current version; 0 when it has no events."""
        return int((await session.execute(_version_query(stream_id))).scalar_one())

    async def _committed_version(self, session: AsyncSession, stream_id: str) -> int:
        """The stream's committed version, read on a connection of its own: the session's
        transaction is aborted (only a race comes here, a rare one)."""
        bind = session.bind
        engine = bind.engine if isinstance(bind, AsyncConnection) else bind
        if not isinstance(engine, AsyncEngine):
            raise TypeError(f"a session bound to {bind!r}: no engine to read the version with")
        async with engine.connect() as connection:
            return int((await connection.execute(_version_query(stream_id))).scalar_one())

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

        Raises ``ConcurrencyConflictError`` when the stream moved on, having written nothing:
        found stale by the statement's check, the transaction stays usable; beaten by a
        concurrent writer (the unique constraint, which is what makes it race-free), the
        transaction is aborted.
        """
        if not new_events:
            return []
        now = datetime.now(UTC)
        envelopes = new_envelopes(
            self._source, stream_id, new_events, expected_version, context, now
        )
        # Serialised once, by pydantic (compiled): the same JSON is the stored event and
        # the Kafka message (json.dumps of model_dump, twice, cost ~6x more; ADR 0021).
        data = [event.model_dump_json() for event in new_events]
        parameters = {
            "stream_id": stream_id,
            "expected": expected_version,
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
            actual, _ = (await session.execute(APPEND, parameters)).one()
        except IntegrityError as error:
            if "uq_events_stream_version" not in str(error.orig):
                raise
            actual = await self._committed_version(session, stream_id)
            raise ConcurrencyConflictError(stream_id, expected_version, actual) from error
        if actual != expected_version:
            raise ConcurrencyConflictError(stream_id, expected_version, actual)
        return envelopes
