"""Benchmark: what the command side's event store and outbox relay cost PostgreSQL per event.

``--results`` results of one run (``bench.results_read``'s events: a ``ResultRecorded`` each, as
run-orchestrator records them, then a ``ResultEvaluated`` each, as the evaluator does) are
appended through ``EventStore.append`` in transactions of ``--flush`` events (one stream for
the recorded, one for the evaluated), into a database migrated as run-orchestrator's; then
``OutboxRelay.publish_pending`` publishes them all to Kafka. Per phase, per event:

- ``statements``: each statement's calls, WAL bytes and records, full-page images, blocks
  dirtied, rows (``pg_stat_statements``), and its execution time (load changes that one);
- ``wal_bytes``: the server's whole WAL between the phase's start and end (``pg_current_wal_lsn``:
  commit records and the NOTIFY's included; the private server runs nothing else);
- after both phases, the ``events`` and ``outbox`` tables' size (heap + indexes + TOAST) and
  what a ``VACUUM`` leaves of the outbox.

A ``CHECKPOINT`` before each phase makes the full-page images deterministic (every page is
written whole once after a checkpoint). The counts do not depend on the machine's load.

    uv run python -m bench.outbox_cost [--results 10000] [--flush 100]

Starts a private PostgreSQL with ``pg_stat_statements`` (``tests/support/private_infra.py``);
publishes to the Kafka of ``KAFKA_BOOTSTRAP_SERVERS`` (the test stack), under a topic prefix
of its own, deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from bench.results_read import run_events
from promptworks_contracts.events import DomainEvent, ResultEvaluated, ResultRecorded
from promptworks_eventkit.db import asyncpg_dsn
from promptworks_eventkit.eventstore import EventStore
from promptworks_eventkit.kafka import create_producer
from promptworks_eventkit.messages import MessageContext
from promptworks_eventkit.relay import OutboxRelay
from tests.support.infra import Infra, create_migrated_database, delete_topics, isolated_kafka
from tests.support.private_infra import running_private_infra

STATEMENTS = """
    SELECT s.query, s.calls, s.rows, s.total_exec_time AS exec_ms, s.wal_bytes, s.wal_records,
           s.wal_fpi, s.shared_blks_dirtied AS dirtied
    FROM pg_stat_statements AS s JOIN pg_database AS d ON d.oid = s.dbid
    WHERE d.datname = $1 ORDER BY s.wal_bytes DESC, s.total_exec_time DESC
"""
SIZES = """
    SELECT c.relname, pg_total_relation_size(c.oid) AS bytes
    FROM pg_class AS c WHERE c.relname IN ('events', 'outbox')
"""
NOISE = ("pg_stat_statements", "pg_current_wal_lsn", "CHECKPOINT", "pg_class")


async def measured(admin: asyncpg.Connection, database: str, phase: Any, events: int) -> Any:
    """Runs ``phase`` between a checkpoint and a statistics reset and its statements' read."""
    await admin.execute("CHECKPOINT")
    await admin.execute("SELECT pg_stat_statements_reset()")
    start = await admin.fetchval("SELECT pg_current_wal_lsn()")
    await phase
    end = await admin.fetchval("SELECT pg_current_wal_lsn()")
    wal = await admin.fetchval("SELECT pg_wal_lsn_diff($1, $2)", end, start)
    rows = await admin.fetch(STATEMENTS, database)
    statements = [
        {
            "query": " ".join(row["query"].split())[:120],
            "calls": round(row["calls"] / events, 4),
            "rows": round(row["rows"] / events, 3),
            "wal_bytes": round(float(row["wal_bytes"]) / events, 1),
            "wal_records": round(row["wal_records"] / events, 2),
            "wal_fpi": round(row["wal_fpi"] / events, 3),
            "blocks_dirtied": round(row["dirtied"] / events, 3),
            "exec_ms_per_1000": round(row["exec_ms"] * 1000 / events, 1),
        }
        for row in rows
        if not any(noise in row["query"] for noise in NOISE)
    ]
    return {
        "wal_bytes": round(float(wal) / events, 1),
        "statement_calls": round(sum(s["calls"] for s in statements), 4),
        "statement_wal_bytes": round(sum(s["wal_bytes"] for s in statements), 1),
        "statements": statements,
    }


async def append_all(url: str, store: EventStore, events: list[DomainEvent], flush: int) -> None:
    engine = create_async_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        for kind in (ResultRecorded, ResultEvaluated):
            stream = f"{kind.__name__}-stream"
            chosen = [event for event in events if isinstance(event, kind)]
            for start in range(0, len(chosen), flush):
                async with sessions() as session, session.begin():
                    await store.append(
                        session, stream, chosen[start : start + flush], start, MessageContext()
                    )
    finally:
        await engine.dispose()


async def publish_all(dsn: str, producer: AIOKafkaProducer) -> None:
    relay = OutboxRelay(dsn, producer)
    connection = await asyncpg.connect(dsn)
    try:
        while await relay.publish_pending(connection):
            pass
    finally:
        await connection.close()


async def main(results: int, flush: int, infra: Infra) -> dict[str, Any]:
    _, every = run_events(results)
    events = [e for e in every if isinstance(e, ResultRecorded | ResultEvaluated)]
    url = await create_migrated_database(infra, "run-orchestrator")
    database = url.rsplit("/", 1)[1]
    dsn = asyncpg_dsn(url)
    kafka = await isolated_kafka(
        Infra(infra.database_url_base, os.environ["KAFKA_BOOTSTRAP_SERVERS"])
    )
    producer = create_producer(kafka, "outbox-cost")
    await producer.start()
    admin = await asyncpg.connect(asyncpg_dsn(infra.database_url("postgres")))
    try:
        await admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        store = EventStore("/bench", kafka)
        appended = await measured(
            admin, database, append_all(url, store, events, flush), len(events)
        )
        published = await measured(admin, database, publish_all(dsn, producer), len(events))
        target = await asyncpg.connect(dsn)
        try:
            sizes = {r["relname"]: r["bytes"] for r in await target.fetch(SIZES)}
            await target.execute("VACUUM outbox")
            vacuumed = await target.fetchval("SELECT pg_total_relation_size('outbox')")
            left = await target.fetchval("SELECT count(*) FROM outbox")
        finally:
            await target.close()
    finally:
        await admin.close()
        await producer.stop()
        await delete_topics(kafka)
    return {
        "events": len(events),
        "flush": flush,
        "append": appended,
        "publish": published,
        "bytes_per_event": {name: round(size / len(events), 1) for name, size in sizes.items()},
        "outbox_after_vacuum_bytes": vacuumed,
        "outbox_rows_left": left,
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=int, default=10000)
    parser.add_argument("--flush", type=int, default=100)
    arguments = parser.parse_args()
    settings = {"shared_preload_libraries": "'pg_stat_statements'"}
    with (
        tempfile.TemporaryDirectory(prefix="pw-bench-outbox-") as state,
        running_private_infra(Path(state), postgres_only=True, pg_settings=settings) as private,
    ):
        infra = Infra(private.database_url_base, private.kafka_bootstrap_servers)
        report = asyncio.run(main(arguments.results, arguments.flush, infra))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    cli()
