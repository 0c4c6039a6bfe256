"""The list totals the projection keeps, moved by exact deltas, keyed ``(partition,
project_id)``: ``prompt_counts`` (prompts and not-archived prompts) and ``run_counts``."""

from __future__ import annotations

from collections import Counter

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from query_api.tables import prompt_counts, run_counts

Key = tuple[int, str]


async def add(session: AsyncSession, prompts: Counter[Key], active: Counter[Key]) -> None:
    """Adds the per-(partition, project) deltas (one statement)."""
    rows = [
        {
            "partition": key[0],
            "project_id": key[1],
            "prompts": prompts[key],
            "active": active[key],
        }
        for key in sorted(prompts.keys() | active.keys())
        if prompts[key] or active[key]
    ]
    if not rows:
        return
    statement = pg_insert(prompt_counts)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[prompt_counts.c.project_id, prompt_counts.c.partition],
            set_={
                "prompts": prompt_counts.c.prompts + statement.excluded.prompts,
                "active": prompt_counts.c.active + statement.excluded.active,
            },
        ),
        rows,
    )


async def add_runs(session: AsyncSession, runs: Counter[Key]) -> None:
    """Adds new runs per (partition, project) (one statement)."""
    rows = [
        {"partition": key[0], "project_id": key[1], "runs": runs[key]}
        for key in sorted(runs)
        if runs[key]
    ]
    if not rows:
        return
    statement = pg_insert(run_counts)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[run_counts.c.project_id, run_counts.c.partition],
            set_={"runs": run_counts.c.runs + statement.excluded.runs},
        ),
        rows,
    )
