"""``prompt_counts``: prompts and not-archived prompts per partition, moved by exact deltas."""

from __future__ import annotations

from collections import Counter

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from query_api.tables import prompt_counts


async def add(session: AsyncSession, prompts: Counter[int], active: Counter[int]) -> None:
    """Adds the per-partition deltas (one statement)."""
    rows = [
        {"partition": partition, "prompts": prompts[partition], "active": active[partition]}
        for partition in sorted(prompts.keys() | active.keys())
        if prompts[partition] or active[partition]
    ]
    if not rows:
        return
    statement = pg_insert(prompt_counts)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[prompt_counts.c.partition],
            set_={
                "prompts": prompt_counts.c.prompts + statement.excluded.prompts,
                "active": prompt_counts.c.active + statement.excluded.active,
            },
        ),
        rows,
    )
