"""A large backlog (10,000 results and their 10,000 evaluations, 3 metrics each) projects
completely and exactly once; and a backlog projected with asynchronous commits (ADR 0026)
through two crashes of PostgreSQL, one of which loses acknowledged batches, ends equal to a
fresh projection of the same topics. The rate is printed (run with ``-s``), not asserted: the
benchmarks under bench/ report performance. The events wait in Kafka as a backlog; the clock
starts when the app starts (so it includes joining the consumer group) and stops when every
row is in the read models: fetching, decoding, deduplicating and writing, on this machine.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import asyncpg
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from promptworks_contracts.events import (
    DomainEvent,
    PromptCreated,
    ResultEvaluated,
    ResultRecorded,
    RunCompleted,
    RunStarted,
)
from promptworks_contracts.values import MetricValue, TokenUsage
from promptworks_eventkit.db import asyncpg_dsn
from query_api.projections import CONSUMER_NAME
from query_api.tables import READ_MODEL_TABLES, metrics, results, runs
from tests.support.private_infra import running_private_infra

pytestmark = pytest.mark.integration

RUNS = 10
CASES, REPETITIONS = 10, 100  # 1,000 results per run


def load(catalog_class: type, runs_: int = RUNS) -> tuple[list[DomainEvent], list[DomainEvent]]:
    """(run lifecycle events, the result and evaluation events: 2,000 a run), interleaved
    per run."""
    lifecycle: list[DomainEvent] = []
    heavy: list[DomainEvent] = []
    prototype = catalog_class.build()
    for _ in range(runs_):
        run = prototype.done.model_copy(
            update={
                "run_id": uuid.uuid4(),
                "cases": [{"name": f"user{i}"} for i in range(CASES)],
                "repetitions": REPETITIONS,
                "total_calls": CASES * REPETITIONS,
            }
        )
        lifecycle += [run, RunStarted(run_id=run.run_id)]
        for case in range(CASES):
            for repetition in range(1, REPETITIONS + 1):
                result = ResultRecorded(
                    run_id=run.run_id,
                    result_id=uuid.uuid4(),
                    case_index=case,
                    repetition=repetition,
                    output=f"Hello user{case}, nice to meet you!",
                    latency_ms=12.5,
                    usage=TokenUsage(prompt_tokens=12, completion_tokens=9, total_tokens=21),
                    finish_reason="stop",
                )
                heavy.append(result)
                heavy.append(
                    ResultEvaluated(
                        run_id=run.run_id,
                        result_id=result.result_id,
                        metrics=[
                            MetricValue(name="latency_ms", value=12.5),
                            MetricValue(name="contains_0", passed=True),
                            MetricValue(name="output_chars", value=36.0),
                        ],
                    )
                )
        heavy.append(
            RunCompleted(
                run_id=run.run_id, status="completed", succeeded=CASES * REPETITIONS, failed=0
            )
        )
    return lifecycle, heavy


async def projected(api, expected_results: int) -> bool:
    async with api.sessions() as session:
        counts = (
            await session.execute(
                select(
                    select(func.count()).select_from(results).scalar_subquery(),
                    select(func.count()).select_from(metrics).scalar_subquery(),
                    select(func.count())
                    .select_from(runs)
                    .where(runs.c.status == "completed", runs.c.recorded == CASES * REPETITIONS)
                    .scalar_subquery(),
                )
            )
        ).one()
    return tuple(counts) == (expected_results, 3 * expected_results, RUNS)


async def test_a_large_backlog_projects_completely(
    serve, settings, publisher, catalog_class, capfd
) -> None:
    lifecycle, heavy = load(catalog_class)
    warm_up = PromptCreated(prompt_id=uuid.uuid4(), name="warm-up")
    async with serve(settings) as api:
        await publisher.publish([warm_up, *lifecycle])
        await api.applied(warm_up, 1)  # the group exists and the runs are projected
    await publisher.publish(heavy)  # a backlog, as after an outage or for a rebuild

    expected_results = RUNS * CASES * REPETITIONS
    started = time.perf_counter()
    async with serve(settings) as api:
        while not await projected(api, expected_results):
            assert time.perf_counter() - started < 120, "the projection is stuck"
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0.5)  # nothing more may arrive: every row exactly once
        assert await projected(api, expected_results)
    # Every batch went through in bulk the first time (no retry, no one-by-one fallback).
    assert "batch failed" not in capfd.readouterr().out
    rate = len(heavy) / elapsed
    print(
        f"\nprojected a backlog of {len(heavy)} events ({expected_results} ResultRecorded + "
        f"{expected_results} ResultEvaluated x 3 metrics + {RUNS} RunCompleted) in "
        f"{elapsed:.2f} s from start-up = {rate:,.0f} events/s = "
        f"{expected_results / elapsed:,.0f} cases/s"
    )


CRASH_RUNS = 2  # 4,000 result and evaluation events to begin with
OFFSETS = (
    "SELECT coalesce(sum(next_offset), 0)::bigint FROM consumer_offsets "
    f"WHERE consumer = '{CONSUMER_NAME}'"
)

WRITING = (
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND backend_xid IS NOT NULL"
)


def complete(runs_: int) -> str:
    """Whether ``runs_`` runs of ``load`` are projected, and the checkpoints' offsets (their
    sum), in one snapshot."""
    results_ = runs_ * CASES * REPETITIONS
    return (
        "SELECT ((SELECT count(*) FROM results), (SELECT count(*) FROM metrics), "
        "(SELECT count(*) FROM runs WHERE status = 'completed' AND recorded = "
        f"{CASES * REPETITIONS})) = ({results_}, {3 * results_}, {runs_}), ({OFFSETS})"
    )


async def _poll(
    dsn: str, query: str, done: Callable[[asyncpg.Record], bool], within: float = 60
) -> asyncpg.Record:
    """``query``'s row once ``done`` holds, on connections of its own: the server may be
    away (crashed, recovering) meanwhile."""
    deadline = time.monotonic() + within
    while True:
        try:
            connection = await asyncpg.connect(dsn, timeout=2)
            try:
                while True:
                    row = await connection.fetchrow(query)
                    if done(row):
                        return row
                    assert time.monotonic() < deadline, f"{query!r} stuck at {tuple(row)}"
                    await asyncio.sleep(0.005)
            finally:
                await connection.close()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            assert time.monotonic() < deadline, "the server did not come back"
            await asyncio.sleep(0.1)


async def read_models(url: str) -> dict[str, list[str]]:
    """Every row of every read model and of the projection's checkpoints, as text, sorted
    (the read models hold nothing but what the events say: no clock, no sequence)."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        queries = {t.name: f"SELECT t::text FROM {t.name} t" for t in READ_MODEL_TABLES}
        queries["consumer_stream_positions"] = "SELECT t::text FROM consumer_stream_positions t"
        queries["consumer_offsets"] = (
            "SELECT (consumer, topic, partition, next_offset)::text FROM consumer_offsets"
        )
        return {
            name: [row[0] for row in await connection.fetch(f"{query} ORDER BY 1")]
            for name, query in queries.items()
        }
    finally:
        await connection.close()


async def test_acknowledged_batches_lost_in_a_crash_are_projected_again(
    serve, settings, database, publisher, catalog_class, tmp_path
) -> None:
    """query-api's projection commits asynchronously (ADR 0026): PostgreSQL acknowledges a
    batch before its WAL is flushed, so a crash may lose batches already visible. The consumer
    must then go back to the offsets stored with the models, not go on from its own.

    A private PostgreSQL (durable settings; the WAL writer's delay at its 10 s maximum, so the
    last commits before a crash are lost unless its timer fires in between) is stopped as a
    crash would (``pg_ctl stop -m immediate``) while the projection applies a backlog, and
    again just after it applied the last of it, until the checkpoints are seen to go back (one
    more run of events before each further try). Projected again, the read models and
    checkpoints equal those of a fresh projection of the same topics, row for row: nothing
    lost, nothing applied twice."""
    lifecycle, heavy = load(catalog_class, CRASH_RUNS)
    await publisher.publish([*lifecycle, *heavy])
    published = CRASH_RUNS

    def settings_for(url: str) -> object:
        return settings.model_copy(update={"database_url": SecretStr(url)})

    crash_settings = {"wal_writer_delay": "10000ms", "autovacuum": "off"}
    with running_private_infra(tmp_path, postgres_only=True, pg_settings=crash_settings) as server:
        url = server.copy_database(settings.database_url.get_secret_value())
        dsn = asyncpg_dsn(url)
        async with serve(settings_for(url)):
            # While the backlog is applied: a batch has written and not committed yet.
            await _poll(dsn, WRITING, lambda row: row[0] > 0)
            server.crash_postgres()
            server.run("up-postgres")
            for _ in range(3):
                # Just after the last batch was committed (and read): nothing flushed it yet.
                acknowledged = (await _poll(dsn, complete(published), lambda row: row[0]))[1]
                server.crash_postgres()
                server.run("up-postgres")
                survived = (await _poll(dsn, OFFSETS, lambda _: True))[0]
                if survived < acknowledged:
                    break
                more_lifecycle, more = load(catalog_class, 1)
                await publisher.publish([*more_lifecycle, *more])
                published += 1
            else:
                pytest.fail("three crashes lost no acknowledged batch: the test tested nothing")
            # Projected again, from the offsets that survived; then nothing more arrives.
            await _poll(dsn, complete(published), lambda row: row[0] and row[1] == acknowledged)
            await asyncio.sleep(0.5)
        crashed = await read_models(url)

    fresh_url = await database("query-api")
    async with serve(settings_for(fresh_url)):
        await _poll(asyncpg_dsn(fresh_url), OFFSETS, lambda row: row[0] == acknowledged)
    fresh = await read_models(fresh_url)
    assert len(fresh["results"]) == published * CASES * REPETITIONS
    assert crashed == fresh
