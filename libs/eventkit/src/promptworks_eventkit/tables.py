"""The tables the shared machinery keeps in each service's own database.

Invariants:
- ``events``: append-only, the history; ``UNIQUE (stream_id, version)`` turns a concurrent
  writer into a conflict instead of a lost update. ``data`` is ``json``, not ``jsonb``: it keeps
  the text the service produced, byte for byte, which is also the Kafka message (ADR 0028).
- ``outbox``: a queue of the events not yet published, written in the same transaction as
  ``events``: one narrow row per event, keyed by the event's ``position`` (the payload, the key
  and the envelope the headers are built from are read from ``events``, never copied). The
  relay deletes a row only after the broker acknowledged its event, so an event is never lost,
  at worst sent twice.
- ``consumer_offsets``: the next offset to read per (consumer, topic, partition), committed in
  the same transaction as the consumer's effects; the consumer seeks there on assignment.
- ``consumer_stream_positions``: the highest stream version a consumer applied per stream. Per
  stream, events arrive in version order, so an event at or below it is a duplicate (for
  example re-sent by a relay that crashed between publish and mark) and is skipped.
- ``dead_letters``: every poison event a consumer sent to ``<topic>.dlq``, with the record
  itself (key, value, headers) so an operator can replay it after a fix. A replayed letter is
  kept, marked ``replayed_at``/``replayed_by``; a replay that failed again keeps it open with
  ``replay_error`` (see ``dead_letters.py``).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSON, JSONB, UUID

metadata = MetaData()

events = Table(
    "events",
    metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=True),
    Column("stream_id", Text, nullable=False),
    Column("stream_type", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    Column("event_type", Text, nullable=False),
    Column("data", JSON, nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("stream_id", "version", name="uq_events_stream_version"),
)

outbox = Table(
    "outbox",
    metadata,
    # The event's ``events.position`` (no sequence of its own; no foreign key: a lookup per
    # row, and both rows are written by one statement).
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("topic", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

consumer_offsets = Table(
    "consumer_offsets",
    metadata,
    Column("consumer", Text, nullable=False),
    Column("topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("next_offset", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("consumer", "topic", "partition"),
)

consumer_stream_positions = Table(
    "consumer_stream_positions",
    metadata,
    Column("consumer", Text, nullable=False),
    Column("topic", Text, nullable=False),
    Column("stream_id", Text, nullable=False),
    Column("version", Integer, nullable=False),
    PrimaryKeyConstraint("consumer", "topic", "stream_id"),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("consumer", Text, nullable=False),
    Column("topic", Text, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("event_id", Text, nullable=True),
    Column("event_type", Text, nullable=True),
    Column("error", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Added by migrations.add_dead_letter_replay_columns (null on letters older than it).
    Column("key", LargeBinary, nullable=True),
    Column("value", LargeBinary, nullable=True),
    Column("headers", JSONB, nullable=True, comment="[[name, base64 value], ...]"),
    Column("replayed_at", DateTime(timezone=True), nullable=True),
    Column("replayed_by", Text, nullable=True),
    Column("replay_error", Text, nullable=True),
)

COMMAND_SIDE_TABLES = (events, outbox)
CONSUMER_SIDE_TABLES = (consumer_offsets, consumer_stream_positions, dead_letters)
