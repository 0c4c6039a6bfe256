"""Reads of a run's optimisation advice, newest first, with the prompt versions saved from
each (``prompt_versions.origin``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.values import ModelRef
from query_api.schemas.advice import AdviceOut, SavedVersion
from query_api.tables import advice, prompt_versions

a, v = advice.c, prompt_versions.c


async def list_advice(
    session: AsyncSession, run_id: UUID, limit: int, offset: int
) -> tuple[int, list[AdviceOut]]:
    total = (
        await session.execute(select(func.count()).select_from(advice).where(a.run_id == run_id))
    ).scalar_one()
    rows = (
        await session.execute(
            select(advice)
            .where(a.run_id == run_id)
            .order_by(a.requested_at.desc(), a.advice_id)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    saved = await _saved(session, [row.advice_id for row in rows])
    return int(total), [_out(row, saved.get(str(row.advice_id), [])) for row in rows]


async def get_advice(session: AsyncSession, run_id: UUID, advice_id: UUID) -> AdviceOut | None:
    row = (
        await session.execute(select(advice).where(a.run_id == run_id, a.advice_id == advice_id))
    ).first()
    if row is None:
        return None
    saved = await _saved(session, [advice_id])
    return _out(row, saved.get(str(advice_id), []))


async def _saved(session: AsyncSession, ids: list[UUID]) -> dict[str, list[SavedVersion]]:
    if not ids:
        return {}
    origin = v.origin["advice_id"].astext
    rows = await session.execute(
        select(origin.label("advice_id"), v.prompt_id, v.number)
        .where(origin.in_([str(i) for i in ids]))
        .order_by(v.number)
    )
    found: dict[str, list[SavedVersion]] = {}
    for row in rows:
        found.setdefault(row.advice_id, []).append(
            SavedVersion(prompt_id=row.prompt_id, number=row.number)
        )
    return found


def _out(row: Any, saved: list[SavedVersion]) -> AdviceOut:
    return AdviceOut(
        id=row.advice_id,
        run_id=row.run_id,
        status=row.status,
        model=ModelRef(provider=row.provider, name=row.model),
        focus=row.focus,
        prompt_id=row.prompt_id,
        prompt_version_number=row.prompt_version_number,
        evaluation_id=row.evaluation_id,
        advice=row.advice,
        error=row.error,
        attempts=row.attempts,
        usage=row.usage,
        cost=row.cost,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        finished_at=row.finished_at,
        saved_versions=saved,
        stream_version=row.stream_version,
    )
