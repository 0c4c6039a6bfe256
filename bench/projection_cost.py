"""Benchmark: what query-api's projection does per result event and per batch, counted.

One run of ``--results`` results (three metrics each, ``bench.results_read``'s events) is
applied through query-api's event router in-process, in batches of ``--batch`` events, each
batch in its own transaction as the live consumer applies it: first the run's creation and
start, then every ``ResultRecorded``, then every ``ResultEvaluated``, then the run's terminal
events. Per phase it counts what the handlers do, all deterministic (a loaded machine changes
none of them, unlike CPU or wall time):

- ``statements``: round trips to PostgreSQL the handlers make (SQLAlchemy's cursor events; an
  ``executemany`` is one, its parameter sets are ``parameter_sets``; and asyncpg's query
  logger for the statements run on the driver directly, ``projections.batched``). The
  consumer's own per batch (``BEGIN``, the fence's two, the bookkeeping, ``COMMIT``) are not
  in it.
- ``rows``: per table, rows inserted, updated (of which HOT: no index touched), deleted
  (``pg_stat_xact_user_tables``, read in each batch's transaction before it commits).
- ``index_entries``: index entries written, computed: rows inserted or updated other than HOT,
  times the table's indexes.
- ``python_calls``: Python function calls in the handlers (cProfile), events and rows built.

Beside the counts, CPU time (which load does distort, less than wall time): this process's in
the handlers and the PostgreSQL backend's serving them (``/proc``, the server on this machine),
in microseconds per event; ``--rounds`` repeats the whole and reports the lowest.

    uv run python -m bench.projection_cost [--results 2000] [--batch 500] [--rounds 3]

Uses ``DATABASE_URL_BASE`` (the test stack by default): counts do not depend on its settings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import pstats
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bench.prompt_data import prompt_events
from bench.results_read import run_events
from promptworks_contracts.events import DomainEvent
from promptworks_eventkit.messages import MessageContext, ReceivedEvent, new_envelopes
from query_api.projections import build_router
from tests.support.infra import create_migrated_database, drop_database, start_infra

TABLE_COUNTS = text(
    """
    SELECT t.relname, t.n_tup_ins, t.n_tup_upd, t.n_tup_hot_upd, t.n_tup_del,
           (SELECT count(*) FROM pg_index AS i WHERE i.indrelid = t.relid) AS indexes
    FROM pg_stat_xact_user_tables AS t
    """
)
"""Row changes per table not yet flushed to the server's statistics: read at a batch's start
and before it commits, the difference is the batch's (the backend may still hold those of
its earlier transactions)."""


async def table_counts(session: AsyncSession) -> dict[str, tuple[int, ...]]:
    return {name: tuple(values) for name, *values in await session.execute(TABLE_COUNTS)}


def backend_cpu(pid: int) -> float:
    """A PostgreSQL backend's CPU seconds so far (user + system), from ``/proc``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def received(events: Sequence[DomainEvent], versions: Counter[str]) -> list[ReceivedEvent]:
    """``events`` as the consumer hands them over: enveloped as the write port envelopes them,
    each stream's versions following on from ``versions`` (topic + stream id: the last version
    given, updated)."""
    out = []
    now = datetime.now(UTC)
    for offset, domain_event in enumerate(events):
        stream = domain_event.stream_id()
        key = domain_event.topic + stream
        [envelope] = new_envelopes("/bench", stream, [domain_event], versions[key], CONTEXT, now)
        versions[key] += 1
        out.append(ReceivedEvent(domain_event.topic, 0, offset, envelope, domain_event))
    return out


CONTEXT = MessageContext(correlation_id="bench")


class Counted:
    """Statements and parameter sets sent through an engine while ``on``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.on = False
        self.statements = 0
        self.parameter_sets = 0
        self.texts: Counter[str] = Counter()
        event.listen(engine.sync_engine, "before_cursor_execute", self._count)

    def _count(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if self.on:
            self.statements += 1
            self.parameter_sets += len(params) if isinstance(params, list) else 1
            self.texts[" ".join(statement.split())[:90]] += 1

    def logged(self, query: Any) -> None:
        """asyncpg's query logger: the statements run on the driver directly (``Prepared``
        through ``fetch_in``), which SQLAlchemy's cursor events do not see."""
        if self.on:
            self.statements += 1
            self.parameter_sets += 1
            self.texts[" ".join(query.query.split())[:90]] += 1


async def apply(
    sessions: async_sessionmaker[AsyncSession],
    counted: Counted,
    events: list[ReceivedEvent],
    batch: int,
    profiled: bool,
) -> dict[str, Any]:
    """Applies ``events`` in batches; the phase's counts (``profiled``: Python calls too;
    cProfile inflates the CPU time, so rounds timed run without it)."""
    router = build_router(set_page_cost=False)  # the live consumer sets it with its bookkeeping
    rows: dict[str, Counter[str]] = {}
    profile = cProfile.Profile()
    statements = parameter_sets = 0
    texts: Counter[str] = Counter()
    batches = 0
    cpu = database_cpu = 0.0
    for start in range(0, len(events), batch):
        async with sessions() as session, session.begin():
            before = await table_counts(session)
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
            counted.on, counted.statements, counted.parameter_sets = True, 0, 0
            counted.texts = Counter()
            database_started, started = backend_cpu(pid), time.process_time()
            raw = await (await session.connection()).get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            with driver.query_logger(counted.logged):
                if profiled:
                    profile.enable()
                await router(session, events[start : start + batch])
                if profiled:
                    profile.disable()
                await asyncio.sleep(0)  # asyncpg calls its query loggers soon, not at once
            cpu += time.process_time() - started
            database_cpu += backend_cpu(pid) - database_started
            counted.on = False
            statements += counted.statements
            parameter_sets += counted.parameter_sets
            texts.update(counted.texts)
            for name, after in (await table_counts(session)).items():
                old = before.get(name, (0, 0, 0, 0, 0))
                ins, upd, hot, dele = (a - b for a, b in zip(after[:4], old[:4], strict=True))
                indexes = after[4]
                if not (ins or upd or dele):
                    continue
                table = rows.setdefault(name, Counter())
                table.update(
                    inserted=ins,
                    updated=upd,
                    hot_updated=hot,
                    deleted=dele,
                    index_entries=(ins + upd - hot) * indexes,
                )
        batches += 1
    calls = pstats.Stats(profile).total_calls if profiled else 0  # type: ignore[attr-defined]
    per_event = 1 / len(events)
    return {
        "events": len(events),
        "batches": batches,
        "statements_per_batch": round(statements / batches, 2),
        "parameter_sets_per_batch": round(parameter_sets / batches, 2),
        "statements": dict(texts.most_common()),
        "rows_per_event": {
            name: {k: round(v * per_event, 2) for k, v in sorted(c.items()) if v}
            for name, c in sorted(rows.items())
        },
        "rows_written_per_event": round(
            sum(c["inserted"] + c["updated"] + c["deleted"] for c in rows.values()) * per_event, 2
        ),
        "index_entries_per_event": round(
            sum(c["index_entries"] for c in rows.values()) * per_event, 2
        ),
        "python_calls_per_event": round(calls * per_event, 1),
        "cpu_us_per_event": {
            "handlers": round(cpu * per_event * 1e6, 1),
            "postgresql": round(database_cpu * per_event * 1e6, 1),
        },
    }


async def main(results: int, batch: int, rounds: int, prompts: int) -> dict[str, Any]:
    report = await one_round(results, batch, prompts, profiled=True)
    for _ in range(rounds):
        timed = await one_round(results, batch, prompts, profiled=False)
        for name, phase in report["phases"].items():
            for side, value in timed["phases"][name]["cpu_us_per_event"].items():
                lowest = phase.setdefault("cpu_us_per_event_lowest", {})
                lowest[side] = min(lowest.get(side, value), value)
    for phase in report["phases"].values():
        del phase["cpu_us_per_event"]  # taken under cProfile
    return report


@contextlib.asynccontextmanager
async def migrated_engine() -> AsyncIterator[AsyncEngine]:
    """An engine (one connection) on a fresh migrated query-api database, dropped at the end."""
    infra = start_infra()
    url = await create_migrated_database(infra, "query-api")
    engine = create_async_engine(url, pool_size=1)
    try:
        yield engine
    finally:
        await engine.dispose()
        await drop_database(infra, url)


def machine() -> dict[str, Any]:
    return {"nproc": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]}


async def one_round(results: int, batch: int, prompts: int, profiled: bool) -> dict[str, Any]:
    async with migrated_engine() as engine:
        counted = Counted(engine)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        _, events = run_events(results)
        created, started, *rest = events
        recorded, evaluated, finished = rest[:results], rest[results:-2], rest[-2:]
        versions: Counter[str] = Counter()
        phases = {
            "run created, started": received([created, started], versions),
            "ResultRecorded": received(recorded, versions),
            "ResultEvaluated": received(evaluated, versions),
            "run completed, evaluated": received(finished, versions),
        }
        if prompts:
            catalogue = list(prompt_events(prompts, random.Random(7)))
            phases["prompt catalogue"] = received(catalogue, versions)
        report = {
            name: await apply(sessions, counted, items, batch, profiled)
            for name, items in phases.items()
        }
    return {**machine(), "results": results, "batch": batch, "phases": report}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500, help="events per transaction")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (CPU: the lowest)")
    parser.add_argument(
        "--prompts",
        type=int,
        default=0,
        help="also a phase of this many prompts' events (bench.prompt_data's catalogue)",
    )
    args = parser.parse_args()
    report = asyncio.run(main(args.results, args.batch, args.rounds, args.prompts))
    print(json.dumps(report, indent=2))
