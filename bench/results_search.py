"""Benchmark: the results filter ``q`` (``ILIKE '%term%'`` within one run) with and without
the trigram index on ``results.output`` (``ix_results_output_trgm``), on the same rows.

One finished, evaluated run of ``--results`` results (``bench.results_read``'s events) is
projected through query-api's event router into a fresh migrated database. Then, for a few
terms, the first page of 50 (``queries.runs.result_page``: the filtered total and the page, as
the API reads them) is read ``--requests`` times one after another: once as migrated, once after
``DROP INDEX ix_results_output_trgm`` and ``ANALYZE``. Per term and side: the matches, p50 / p95
ms (wall: one connection, nothing else asked) and the PostgreSQL backend's CPU ms per request
(``/proc``, the server on this machine). What the index costs each projected result is
``bench.projection_cost``'s to measure (ADR 0019's tenth-session addendum has both).

    uv run python -m bench.results_search [--results 100000] [--requests 40]

Uses ``DATABASE_URL_BASE`` (the test stack by default, ``fsync`` off: reads do not sync).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections import Counter
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.projection_cost import backend_cpu, machine, migrated_engine, received
from bench.results_read import run_events
from query_api.projections import build_router
from query_api.queries.result_filters import ResultFilter
from query_api.queries.runs import result_page

TERMS = ("question 4321", "question 12", "lorem")
"""Ten results of 100,000 (one case's repetitions); 1,110 (cases 12, 120-129, 1200-1299);
every one."""
NO_TRIGRAM_INDEX = text("DROP INDEX ix_results_output_trgm")


async def project(sessions: async_sessionmaker[AsyncSession], results: int) -> Any:
    """One finished run of ``results`` results applied as the live consumer applies it."""
    router = build_router(set_page_cost=False)
    run_id, events = run_events(results)
    applied = received(events, Counter())
    for start in range(0, len(applied), 1000):
        async with sessions() as session, session.begin():
            await router(session, applied[start : start + 1000])
    return run_id


async def timed(session: AsyncSession, run_id: Any, term: str, requests: int) -> dict[str, Any]:
    pid = await session.scalar(text("SELECT pg_backend_pid()"))
    where = ResultFilter(q=term).conditions()
    page = await result_page(session, run_id, 50, 0, where)  # warm: the pages in the cache
    assert page is not None
    walls = []
    database_started = backend_cpu(pid)
    for _ in range(requests):
        started = time.perf_counter()
        await result_page(session, run_id, 50, 0, where)
        walls.append((time.perf_counter() - started) * 1000)
    database_cpu = backend_cpu(pid) - database_started
    return {
        "matches": page[0],
        "p50_ms": round(statistics.median(walls), 2),
        "p95_ms": round(statistics.quantiles(walls, n=20)[-1], 2),
        "postgresql_cpu_ms": round(database_cpu * 1000 / requests, 2),
    }


async def main(results: int, requests: int) -> dict[str, Any]:
    sides: dict[str, dict[str, Any]] = {}
    async with migrated_engine() as engine:
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        run_id = await project(sessions, results)
        for side in ("with the trigram index (as migrated)", "without it"):
            async with sessions() as session:
                if sides:
                    await session.execute(NO_TRIGRAM_INDEX)
                await session.execute(text("ANALYZE results"))
                await session.commit()
                sides[side] = {t: await timed(session, run_id, t, requests) for t in TERMS}
    return {**machine(), "results": results, "requests": requests, "sides": sides}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=40, help="per term and side")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.results, args.requests)), indent=2))
