"""A consumer runner's bookkeeping in SQL: the statement each batch's transaction runs once
(stream positions read and moved, offsets stored, commit mode set, fence token read) and the
idle check's read of the stored offsets (``asynchronous_commit``, ADR 0026)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_eventkit.consumer_records import ConsumedRecord
from promptworks_eventkit.messages import ReceivedEvent


def checkpoint_statement(fence_token: str) -> TextClause:
    """A runner's bookkeeping statement (``CHECKPOINT``), reading ``fence_token`` (its fence's
    token in SQL, ``Fence.TOKEN``; ``NULL``: no fence)."""
    return text(CHECKPOINT.replace("FENCE_TOKEN", fence_token))


CHECKPOINT = """
    WITH wanted AS (
        SELECT * FROM json_to_recordset(CAST(:positions AS json))
            AS w(topic text, stream_id text, version integer)
    ), old AS (
        SELECT p.topic, p.stream_id, p.version FROM consumer_stream_positions AS p
        JOIN wanted AS w ON w.topic = p.topic AND w.stream_id = p.stream_id
        WHERE p.consumer = :consumer
    ), positions AS (
        INSERT INTO consumer_stream_positions AS p (consumer, topic, stream_id, version)
        SELECT :consumer, topic, stream_id, version FROM wanted ORDER BY topic, stream_id
        ON CONFLICT (consumer, topic, stream_id) DO UPDATE SET version = excluded.version
        WHERE p.version < excluded.version
    ), offsets AS (
        INSERT INTO consumer_offsets AS o (consumer, topic, partition, next_offset)
        SELECT :consumer, topic, partition, next_offset
        FROM json_to_recordset(CAST(:offsets AS json))
            AS n(topic text, partition integer, next_offset bigint)
        ORDER BY topic, partition
        ON CONFLICT (consumer, topic, partition) DO UPDATE
        SET next_offset = excluded.next_offset, updated_at = now()
    )
    SELECT found.kind, found.topic, found.key, found.value, settings.fence
    FROM (
        SELECT set_config('synchronous_commit',
            coalesce(CAST(:commit AS text), current_setting('synchronous_commit')), true),
        (SELECT count(set_config(key, value, true))
         FROM json_each_text(CAST(:settings AS json))),
        FENCE_TOKEN AS fence
    ) AS settings
    LEFT JOIN (
        SELECT 'position' AS kind, topic, stream_id AS key, version::bigint AS value FROM old
        UNION ALL
        SELECT 'offset', topic, partition::text, next_offset FROM consumer_offsets
        WHERE consumer = :consumer AND CAST(:asynchronous AS boolean)
    ) AS found ON true
    """
"""A batch's bookkeeping, one round trip (it was three: positions read, positions written,
offsets written): the applied version of each stream of the batch (read before it is moved:
every part of one statement sees the same snapshot), each stream moved up to the batch's
highest version, the next offset per partition stored, the transaction's commit made
asynchronous or left as configured, the runner's ``transaction_settings`` set, and the
offsets stored before this batch (asynchronous consumers only), and the fence's token (its
lock taken by the statement before; ``checkpoint_statement`` puts it in). The effects follow
in the same transaction, so its order is free. Rows are written in key order, as before, so
that two writers never wait for each other in a cycle."""

ASYNCHRONOUS_CHECKPOINTS = text(
    "SELECT o.topic, o.partition, o.next_offset"
    " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS asynchronous"
    " LEFT JOIN consumer_offsets AS o ON o.consumer = :consumer"
)
"""One round trip: this transaction's commit made asynchronous, and the offsets stored by the
consumer's last commits that survived (no row of NULLs when none is stored)."""


async def checkpoint(
    session: AsyncSession,
    statement: TextClause,
    *,
    consumer: str,
    records: list[ConsumedRecord],
    events: list[ReceivedEvent],
    asynchronous: bool,
    settings: str,
) -> tuple[list[ReceivedEvent], dict[tuple[str, int], int], Any]:
    """A batch's bookkeeping in one statement (``statement``, a ``checkpoint_statement``):
    reads each stream's applied version and moves it to the batch's highest, stores the next
    offsets, sets the transaction's commit mode and ``settings`` (JSON) and (``asynchronous``)
    reads the offsets stored before this batch. Returns the events not yet applied (in order),
    those stored offsets and the fence's token (None without a fence)."""
    positions: dict[tuple[str, str], int] = {}
    for event in events:
        key = (event.topic, event.envelope.subject)
        positions[key] = max(positions.get(key, 0), event.envelope.streamversion)
    offsets: dict[tuple[str, int], int] = {}
    for record in records:
        key_ = (record.topic, record.partition)
        offsets[key_] = max(offsets.get(key_, -1), record.offset + 1)
    rows = await session.execute(
        statement,
        {
            "consumer": consumer,
            "positions": json.dumps(
                [{"topic": t, "stream_id": s, "version": v} for (t, s), v in positions.items()]
            ),
            "offsets": json.dumps(
                [{"topic": t, "partition": p, "next_offset": o} for (t, p), o in offsets.items()]
            ),
            "commit": "off" if asynchronous else None,
            "asynchronous": asynchronous,
            "settings": settings,
        },
    )
    applied: dict[tuple[str, str], int] = {}
    stored: dict[tuple[str, int], int] = {}
    token: Any = None
    for kind, topic, key, value, fence_token in rows:
        token = fence_token  # the same on every row
        if kind == "position":
            applied[(topic, key)] = value
        elif kind == "offset":
            stored[(topic, int(key))] = value
    fresh: list[ReceivedEvent] = []
    for event in events:
        stream = (event.topic, event.envelope.subject)
        if event.envelope.streamversion > applied.get(stream, 0):
            applied[stream] = event.envelope.streamversion
            fresh.append(event)
    return fresh, stored, token
