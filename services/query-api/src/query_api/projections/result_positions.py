"""Numbers the results of finished runs (``result_positions``), so that a page of a run's
results at any offset is one range read on ``(run_id, position)``.

A run's results are numbered in one statement when its terminal event is applied (completed,
failed, cancelled: after it, by stream order, no result of the run normally follows), and again
whenever a result of an already finished run is applied. The numbers depend only on the set of
results, so a rebuild yields the same ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from query_api.projections._util import any_of
from query_api.tables import FINISHED_STATUSES, result_positions, results, runs

res = results.c


async def number(session: AsyncSession, run_ids: Sequence[UUID]) -> None:
    """(Re)numbers every result of these runs."""
    if not run_ids:
        return
    await session.execute(
        delete(result_positions).where(any_of(result_positions.c.run_id, run_ids))
    )
    position = (
        func.row_number().over(
            partition_by=res.run_id, order_by=(res.case_index, res.repetition, res.result_id)
        )
        - 1
    )
    await session.execute(
        result_positions.insert().from_select(
            ["run_id", "position", "result_id"],
            select(res.run_id, position, res.result_id).where(any_of(res.run_id, run_ids)),
        )
    )


async def renumber_finished(session: AsyncSession, run_ids: Sequence[UUID]) -> None:
    """Renumbers those of these runs that are already finished (a late result)."""
    if not run_ids:
        return
    finished = await session.scalars(
        select(runs.c.run_id).where(
            any_of(runs.c.run_id, run_ids), runs.c.status.in_(FINISHED_STATUSES)
        )
    )
    await number(session, list(finished))
