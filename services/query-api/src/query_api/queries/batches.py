"""Reads of batches: the matrix from ``batches``, each cell's progress from ``runs``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from query_api.schemas.batches import BatchCellOut, BatchOut, BatchStatus
from query_api.schemas.runs import MoneyOut, money, money_out
from query_api.tables import batches, runs

b, r = batches.c, runs.c


async def list_batches(
    session: AsyncSession, project: str, limit: int, offset: int
) -> tuple[int, list[BatchOut]]:
    """A page of the project's batches, newest first."""
    mine = b.project_id == project
    total = int(await session.scalar(select(func.count()).where(mine)) or 0)
    page = select(batches).where(mine).order_by(b.created_at.desc(), b.batch_id.desc()).limit(limit)
    rows = (await session.execute(page.offset(offset))).all() if total > offset else []
    projected = await _runs(session, [row.batch_id for row in rows])
    return total, [_batch(row, projected) for row in rows]


async def get_batch(
    session: AsyncSession, batch_id: UUID, project: str | None = None
) -> BatchOut | None:
    """The batch (with ``project``: only if it is that project's)."""
    query = select(batches).where(b.batch_id == batch_id)
    if project is not None:
        query = query.where(b.project_id == project)
    row = (await session.execute(query)).first()
    return None if row is None else _batch(row, await _runs(session, [batch_id]))


async def _runs(session: AsyncSession, batch_ids: list[UUID]) -> dict[UUID, Row[Any]]:
    """The projected runs of these batches by run id: one query for a whole page."""
    if not batch_ids:
        return {}
    query = select(runs).where(r.batch_id.in_([str(batch_id) for batch_id in batch_ids]))
    return {run.run_id: run for run in (await session.execute(query)).all()}


def _batch(row: Row[Any], projected: dict[UUID, Row[Any]]) -> BatchOut:
    cells = [_cell(cell, projected.get(UUID(cell["run_id"]))) for cell in row.cells]
    recorded = sum(cell.recorded for cell in cells)
    return BatchOut(
        id=row.batch_id,
        name=row.name,
        status=_status([cell.status for cell in cells]),
        total_calls=row.total_calls,
        recorded=recorded,
        progress=min(1.0, recorded / row.total_calls),
        cost=_totals(cells),
        created_at=row.created_at,
        cells=cells,
        stream_version=row.stream_version,
    )


def _cell(cell: dict[str, Any], run: Row[Any] | None) -> BatchCellOut:
    model = cell["model"]
    return BatchCellOut(
        run_id=cell["run_id"],
        prompt_version_id=cell["prompt_version_id"],
        prompt_version_number=cell["prompt_version_number"],
        provider=model["provider"],
        model_name=model["name"],
        parameters=cell["parameters"],
        parameter_set=cell["parameter_set"],
        status=None if run is None else run.status,
        total_calls=0 if run is None else run.total_calls,
        recorded=0 if run is None else run.recorded,
        succeeded=0 if run is None else run.succeeded,
        failed=0 if run is None else run.failed,
        cost=None if run is None else money(run.cost, run.currency),
        evaluation_summary=None if run is None else run.evaluation_summary,
    )


def _status(statuses: list[str | None]) -> BatchStatus:
    if all(status in (None, "queued") for status in statuses):
        return "queued"
    if any(status in (None, "queued", "running") for status in statuses):
        return "running"
    if all(status == "cancelled" for status in statuses):
        return "cancelled"
    if all(status == "failed" for status in statuses):
        return "failed"
    return "completed"


def _totals(cells: list[BatchCellOut]) -> list[MoneyOut]:
    totals: dict[str, Decimal] = {}
    for cell in cells:
        if cell.cost is not None:
            totals[cell.cost.currency] = (
                totals.get(cell.cost.currency, Decimal(0)) + cell.cost.amount
            )
    return [money_out(amount, currency) for currency, amount in sorted(totals.items())]
