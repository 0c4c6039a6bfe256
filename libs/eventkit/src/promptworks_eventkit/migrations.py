"""Helpers that each service's Alembic migrations call to create the shared tables.

The shared schema lives in one place (``tables.py``); a later change to it ships as a new helper
here that every service's next migration calls.
"""

from __future__ import annotations

from alembic import op

from promptworks_contracts.envelope import CONTENT_TYPE, CONTENT_TYPE_HEADER, HEADER_PREFIX
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


# ADR 0028: the outbox becomes a queue of positions and the payload is stored once, in
# ``events.data`` (``json``). Unpublished rows are carried over in both directions; published
# ones are history already in ``events``.
OUTBOX_QUEUE = """
    CREATE TABLE outbox_queue (
        position bigint PRIMARY KEY,
        topic text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )
"""
OUTBOX_TABLE = """
    CREATE TABLE outbox_table (
        id bigserial PRIMARY KEY,
        event_id uuid NOT NULL,
        topic text NOT NULL,
        key text NOT NULL,
        headers jsonb NOT NULL,
        value bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz
    )
"""


HEADERS_OF_METADATA = f"""
    jsonb_build_array(jsonb_build_array('{CONTENT_TYPE_HEADER}', '{CONTENT_TYPE}')) || coalesce(
        (SELECT jsonb_agg(jsonb_build_array('{HEADER_PREFIX}' || m.key, m.value) ORDER BY m.n)
         FROM json_each_text(e.metadata) WITH ORDINALITY AS m(key, value, n)
         WHERE m.value IS NOT NULL AND m.key <> 'datacontenttype'),
        '[]'::jsonb)
"""
"""The old outbox's headers column, from the event's envelope (``events.metadata``, still
``json``: in its key order): what ``kafka_headers`` builds in the relay."""


def _has_column(table: str, column: str) -> bool:
    query = (
        "SELECT 1 FROM information_schema.columns "
        f"WHERE table_schema = current_schema() AND table_name = '{table}' "
        f"AND column_name = '{column}'"
    )
    return op.get_bind().exec_driver_sql(query).first() is not None


def _carry_over(insert: str, counted: str) -> None:
    """Runs ``insert`` (the unpublished rows into the new table) and checks that it moved every
    one of the ``counted`` rows: a row without its event would otherwise vanish silently."""
    bind = op.get_bind()
    expected = bind.exec_driver_sql(counted).scalar_one()
    moved = bind.exec_driver_sql(insert).rowcount
    if moved != expected:
        raise RuntimeError(f"outbox: {expected} unpublished rows but {moved} carried over")


def _replace_outbox(new: str) -> None:
    op.execute("DROP TABLE outbox")
    op.execute(f"ALTER TABLE {new} RENAME TO outbox")
    op.execute(f"ALTER TABLE outbox RENAME CONSTRAINT {new}_pkey TO outbox_pkey")


def adopt_outbox_queue() -> None:
    """The old outbox (a copy of each payload, marked ``published_at``) becomes the queue.

        In one transaction, holding its tables exclusively: ``events.data``/``metadata`` become
        ``json``; each unpublished row's bytes (the Kafka message) are put back as its event's
        ``data``, so what the relay sends is byte for byte what the old relay would have sent;
        then the unpublished rows move to the queue, keyed by their event's position (their headers
    are the envelope's: the relay builds them from ``events.metadata``; only their order may differ,
    ``jsonb`` having reordered the envelope's keys). A process of
        the previous version still running fails its next append or mark (columns gone): its
        command is rolled back, its batch re-sent by the new relay (duplicates consumers skip).
        A database created after this change already has the queue (the first migration creates
        ``tables.py``'s shape): nothing to do."""
    if not _has_column("outbox", "published_at"):
        return
    op.execute(
        "ALTER TABLE events ALTER COLUMN data TYPE json USING data::json, "
        "ALTER COLUMN metadata TYPE json USING metadata::json"
    )
    op.execute(
        "UPDATE events AS e SET data = convert_from(o.value, 'UTF8')::json FROM outbox AS o "
        "WHERE o.event_id = e.event_id AND o.published_at IS NULL"
    )
    op.execute(OUTBOX_QUEUE)
    _carry_over(
        "INSERT INTO outbox_queue (position, topic, created_at) "
        "SELECT e.position, o.topic, o.created_at "
        "FROM outbox AS o JOIN events AS e USING (event_id) WHERE o.published_at IS NULL",
        "SELECT count(*) FROM outbox WHERE published_at IS NULL",
    )
    _replace_outbox("outbox_queue")


def restore_outbox_table() -> None:
    """The reverse of ``adopt_outbox_queue``: queued rows become unpublished rows of the old
    outbox (ids in position order, so per stream in version order), with their payload copied
    from ``events.data``; ``events`` back to ``jsonb``."""
    op.execute(OUTBOX_TABLE)
    _carry_over(
        "INSERT INTO outbox_table (event_id, topic, key, headers, value, created_at) "
        f"SELECT e.event_id, o.topic, e.stream_id, {HEADERS_OF_METADATA}, "
        "convert_to(e.data::text, 'UTF8'), o.created_at "
        "FROM outbox AS o JOIN events AS e USING (position) ORDER BY o.position",
        "SELECT count(*) FROM outbox",
    )
    _replace_outbox("outbox_table")
    op.execute("ALTER SEQUENCE outbox_table_id_seq RENAME TO outbox_id_seq")
    op.execute("CREATE INDEX ix_outbox_unpublished ON outbox (id) WHERE published_at IS NULL")
    op.execute(
        "ALTER TABLE events ALTER COLUMN data TYPE jsonb USING data::jsonb, "
        "ALTER COLUMN metadata TYPE jsonb USING metadata::jsonb"
    )
