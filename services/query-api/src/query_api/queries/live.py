"""Snapshots of a run or a batch for the live progress streams (``api/live``).

A snapshot's ``position`` only grows: a run's is ``2 * stream_version`` plus one once its
evaluation summary is projected (the summary comes from another topic and does not move the
run's stream version); a batch's is the sum of its runs' positions. It is the event id of the
stream, so a client that reconnects with ``Last-Event-ID`` gets only what changed since.
Everything is read from the read model: any query-api replica serves any stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import Integer, cast, false, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from query_api.queries.batches import get_batch
from query_api.queries.runs import get_run
from query_api.tables import FINISHED_STATUSES, runs

r = runs.c


@dataclass(frozen=True)
class Snapshot:
    position: int
    finished: bool
    evaluated: bool
    finished_at: datetime | None
    data: bytes
    """The resource as ``GET`` answers it (JSON)."""


async def run_snapshot(
    session: AsyncSession, run_id: UUID, project: str | None = None
) -> Snapshot | None:
    run = await get_run(session, run_id, project)
    if run is None:
        return None
    evaluated = run.evaluation_summary is not None
    return Snapshot(
        position=2 * run.stream_version + int(evaluated),
        finished=run.status in FINISHED_STATUSES,
        evaluated=evaluated,
        finished_at=run.finished_at,
        data=run.model_dump_json().encode(),
    )


async def batch_snapshot(
    session: AsyncSession, batch_id: UUID, project: str | None = None
) -> Snapshot | None:
    batch = await get_batch(session, batch_id, project)
    if batch is None:
        return None
    # The column holds JSON null until a summary arrives (not SQL NULL).
    evaluated = func.coalesce(func.jsonb_typeof(r.evaluation_summary) == "object", false())
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(2 * r.stream_version + cast(evaluated, Integer)), 0),
                func.count(),
                func.count().filter(evaluated),
                func.max(r.finished_at),
            ).where(r.batch_id == str(batch_id))
        )
    ).one()
    position, projected, summaries, finished_at = row
    cells = len(batch.cells)
    all_projected = projected == cells
    finished = all_projected and all(cell.status in FINISHED_STATUSES for cell in batch.cells)
    return Snapshot(
        position=int(position),
        finished=finished,
        evaluated=all_projected and summaries == cells,
        finished_at=finished_at,
        data=batch.model_dump_json().encode(),
    )
