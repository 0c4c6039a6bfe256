"""Migration 0002 on a database that 0001 built before classes and tags had ids."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from promptworks_contracts.envelope import kafka_headers
from promptworks_eventkit.db import asyncpg_dsn
from promptworks_eventkit.relay import SELECT_BATCH
from tests.support.infra import Infra, alembic, create_database, drop_database

pytestmark = pytest.mark.integration

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "alembic.ini"
PROMPT_A = "6b0f4a52-54bb-4c3e-9d9b-4e1d6e0c8a01"
PROMPT_B = "6b0f4a52-54bb-4c3e-9d9b-4e1d6e0c8a02"

# prompt_names as 0001 created it at the time (0001 builds it from the live table object).
SHAPE_0001 = """
DROP TABLE prompt_names;
CREATE TABLE prompt_names (
    prompt_id TEXT PRIMARY KEY,
    class_name TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL,
    CONSTRAINT uq_prompt_names_class_name UNIQUE (class_name, name)
);
"""


@pytest.fixture
async def database_at_0001(infra: Infra) -> AsyncIterator[tuple[str, Any]]:
    url = await create_database(infra, "prompt_service_migration")
    await alembic(ALEMBIC_INI, url, "upgrade", "0001")
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(SHAPE_0001)
        await connection.execute(
            "INSERT INTO prompt_names (prompt_id, class_name, name) "
            "VALUES ($1, '', 'alpha'), ($2, 'demo', 'beta')",
            PROMPT_A,
            PROMPT_B,
        )
        yield url, connection
    finally:
        await connection.close()
        await drop_database(infra, url)


async def test_0002_keeps_every_prompt_name_and_downgrades_back(
    database_at_0001: tuple[str, Any],
) -> None:
    url, connection = database_at_0001
    await alembic(ALEMBIC_INI, url, "upgrade", "head")
    rows = await connection.fetch(
        "SELECT prompt_id, class_id, name FROM prompt_names ORDER BY name"
    )
    assert [(str(r["prompt_id"]), r["class_id"], r["name"]) for r in rows] == [
        (PROMPT_A, None, "alpha"),
        (PROMPT_B, None, "beta"),
    ]
    tables = await connection.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    )
    assert {"classes", "tags", "prompt_tags"} <= {t["tablename"] for t in tables}
    with pytest.raises(asyncpg.UniqueViolationError):
        await connection.execute(
            "INSERT INTO prompt_names (prompt_id, name) VALUES (gen_random_uuid(), 'alpha')"
        )

    await alembic(ALEMBIC_INI, url, "downgrade", "0001")
    rows = await connection.fetch("SELECT prompt_id, class_name, name FROM prompt_names")
    assert sorted((r["prompt_id"], r["class_name"], r["name"]) for r in rows) == [
        (PROMPT_A, "", "alpha"),
        (PROMPT_B, "", "beta"),
    ]


# Three events of one stream in the outbox as it was before 0004 (ADR 0028): the first published,
# the other two in flight. Their messages are the service's JSON text (keys in its order, no
# spaces), which jsonb would reorder and space out.
OLD_OUTBOX = """
INSERT INTO events (stream_id, stream_type, version, event_id, event_type, data, metadata)
SELECT 's', 'prompt', v, ('00000000-0000-0000-0000-00000000000' || v)::uuid, 'kind',
       ('{"z":' || v || ',"a":"x"}')::jsonb,
       ('{"id":"m","datacontenttype":"application/json","traceparent":null,"streamversion":'
        || v || '}')::jsonb
FROM generate_series(1, 3) AS v;
INSERT INTO outbox (event_id, topic, key, headers, value, published_at)
SELECT ('00000000-0000-0000-0000-00000000000' || v)::uuid, 'topic', 's',
       ('[["content-type", "application/json"], ["ce_id", "m"], ["ce_streamversion", "' || v
        || '"]]')::jsonb,
       convert_to('{"z":' || v || ',"a":"x"}', 'UTF8'), CASE WHEN v = 1 THEN now() END
FROM generate_series(1, 3) AS v;
"""


async def test_0004_carries_unpublished_outbox_rows_over_both_ways(infra: Infra) -> None:
    """Upgrade: the two unpublished rows (not the published one) become the queue, keyed by
    their events' positions, and the relay reads their exact message bytes from ``events``.
    Downgrade: they are unpublished rows of the old outbox again, same bytes, in order."""
    url = await create_database(infra, "prompt_service_outbox")
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await alembic(ALEMBIC_INI, url, "upgrade", "head")
        # A fresh database's 0001 builds the new shape.
        await alembic(ALEMBIC_INI, url, "downgrade", "0003")
        await connection.execute(OLD_OUTBOX)
        await alembic(ALEMBIC_INI, url, "upgrade", "0004")
        queued = await connection.fetch(SELECT_BATCH, 10)
        assert [(r["key"], r["value"], r["topic"]) for r in queued] == [
            ("s", '{"z":2,"a":"x"}', "topic"),
            ("s", '{"z":3,"a":"x"}', "topic"),
        ]
        positions = await connection.fetch("SELECT position FROM events WHERE version > 1")
        assert [r["position"] for r in queued] == sorted(r["position"] for r in positions)
        assert kafka_headers(json.loads(queued[0]["metadata"])) == [
            ("content-type", b"application/json"),
            ("ce_id", b"m"),
            ("ce_streamversion", b"2"),
        ]

        await alembic(ALEMBIC_INI, url, "downgrade", "0003")
        rows = await connection.fetch(
            "SELECT o.key, convert_from(o.value, 'UTF8') AS value, e.version, o.headers::text "
            "FROM outbox AS o JOIN events AS e USING (event_id) WHERE o.published_at IS NULL "
            "ORDER BY o.id"
        )
        assert [(r["key"], r["value"], r["version"]) for r in rows] == [
            ("s", '{"z":2,"a":"x"}', 2),
            ("s", '{"z":3,"a":"x"}', 3),
        ]
        assert [json.loads(r["headers"]) for r in rows] == [
            [["content-type", "application/json"], ["ce_id", "m"], ["ce_streamversion", str(v)]]
            for v in (2, 3)
        ]
        await alembic(ALEMBIC_INI, url, "upgrade", "head")
        assert len(await connection.fetch(SELECT_BATCH, 10)) == 2
    finally:
        await connection.close()
        await drop_database(infra, url)
