"""SQL for the evaluator's tables: every call is one statement for a whole batch."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from evaluator.domain.stats import MetricStats, RunStats
from evaluator.tables import run_metric_stats, runs
from promptworks_contracts.values import Assertion


@dataclass
class RunState:
    """The mutable part of a ``runs`` row."""

    run_id: str
    total_calls: int
    evaluated: int
    stream_version: int
    status: str


@dataclass(frozen=True)
class RunSpec:
    """The immutable part of a ``runs`` row: what to evaluate."""

    assertions: list[Assertion]
    cases: list[dict[str, Any]]


@cache
def _assertions() -> TypeAdapter[list[Assertion]]:
    return TypeAdapter(list[Assertion])


async def insert_runs(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Stores new runs; a run already stored keeps its row (its spec never changes)."""
    await session.execute(pg_insert(runs).on_conflict_do_nothing(), list(rows))


async def load_states(session: AsyncSession, run_ids: Collection[str]) -> dict[str, RunState]:
    c = runs.c
    rows = await session.execute(
        select(c.run_id, c.total_calls, c.evaluated, c.stream_version, c.status).where(
            c.run_id.in_(sorted(run_ids))
        )
    )
    return {row.run_id: RunState(*row) for row in rows}


async def load_specs(session: AsyncSession, run_ids: Collection[str]) -> dict[str, RunSpec]:
    rows = await session.execute(
        select(runs.c.run_id, runs.c.assertions, runs.c.cases).where(
            runs.c.run_id.in_(sorted(run_ids))
        )
    )
    return {
        run_id: RunSpec(_assertions().validate_python(assertions), cases)
        for run_id, assertions, cases in rows
    }


async def save_states(session: AsyncSession, states: Iterable[RunState]) -> None:
    params = [
        {
            "b_run_id": s.run_id,
            "b_evaluated": s.evaluated,
            "b_stream_version": s.stream_version,
            "b_status": s.status,
        }
        for s in states
    ]
    if not params:
        return
    statement = (
        update(runs)
        .where(runs.c.run_id == bindparam("b_run_id"))
        .values(
            evaluated=bindparam("b_evaluated"),
            stream_version=bindparam("b_stream_version"),
            status=bindparam("b_status"),
        )
    )
    await session.execute(statement, params)


async def add_stats(session: AsyncSession, deltas: Mapping[str, RunStats]) -> None:
    """Adds a batch's statistics to the stored ones: one upsert for every (run, metric)."""
    rows = [
        {"run_id": run_id, "name": name, **vars(stats)}
        for run_id, by_name in deltas.items()
        for name, stats in by_name.items()
    ]
    if not rows:
        return
    insert = pg_insert(run_metric_stats)
    stored, new = run_metric_stats.c, insert.excluded
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=[stored.run_id, stored.name],
            set_={
                "count": stored.count + new.count,
                "sum": stored.sum + new.sum,
                # LEAST/GREATEST ignore NULLs: a side without values leaves the other's bound.
                "min": func.least(stored.min, new.min),
                "max": func.greatest(stored.max, new.max),
                "passed": stored.passed + new.passed,
                "failed": stored.failed + new.failed,
            },
        ),
        rows,
    )


async def load_stats(session: AsyncSession, run_ids: Collection[str]) -> dict[str, RunStats]:
    c = run_metric_stats.c
    rows = await session.execute(
        select(c.run_id, c.name, c.count, c.sum, c.min, c.max, c.passed, c.failed).where(
            c.run_id.in_(sorted(run_ids))
        )
    )
    stats: dict[str, RunStats] = {}
    for run_id, name, *values in rows:
        stats.setdefault(run_id, {})[name] = MetricStats(*values)
    return stats
