"""Helpers that each service's Alembic migrations call to create the shared tables.

The shared schema lives in one place (``tables.py``); a later change to it ships as a new helper
here that every service's next migration calls.
"""

from __future__ import annotations

from alembic import op

from promptworks_eventkit.tables import COMMAND_SIDE_TABLES, CONSUMER_SIDE_TABLES


def create_command_side_tables() -> None:
    """Event store and outbox, for a service that records events."""
    for table in COMMAND_SIDE_TABLES:
        table.create(op.get_bind())


def create_consumer_side_tables() -> None:
    """Checkpoints, stream positions and dead letters, for a service that consumes events."""
    for table in CONSUMER_SIDE_TABLES:
        table.create(op.get_bind())


DEAD_LETTER_REPLAY_COLUMNS = (
    ("key", "bytea"),
    ("value", "bytea"),
    ("headers", "jsonb"),
    ("replayed_at", "timestamptz"),
    ("replayed_by", "text"),
    ("replay_error", "text"),
)


def add_dead_letter_replay_columns() -> None:
    """Dead letters keep their record and their replay state. ``IF NOT EXISTS``: a database
    created after this change already has them (the first migration creates ``tables.py``'s
    current shape)."""
    for name, kind in DEAD_LETTER_REPLAY_COLUMNS:
        op.execute(f"ALTER TABLE dead_letters ADD COLUMN IF NOT EXISTS {name} {kind}")


def drop_dead_letter_replay_columns() -> None:
    for name, _ in reversed(DEAD_LETTER_REPLAY_COLUMNS):
        op.execute(f"ALTER TABLE dead_letters DROP COLUMN IF EXISTS {name}")


def drop_command_side_tables() -> None:
    for table in reversed(COMMAND_SIDE_TABLES):
        table.drop(op.get_bind())


def drop_consumer_side_tables() -> None:
    for table in reversed(CONSUMER_SIDE_TABLES):
        table.drop(op.get_bind())
