"""Reads of a run's evaluations: the first (made as its results arrived) and each
re-evaluation, in the order of the run's evaluation stream."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.values import EvaluatorPin
from query_api.schemas.evaluators import EvaluationOut
from query_api.tables import evaluations, runs

e, r = evaluations.c, runs.c


def _pin(evaluator_id: UUID | None, version: int | None) -> EvaluatorPin | None:
    if evaluator_id is None or version is None:
        return None
    return EvaluatorPin(evaluator_id=evaluator_id, version=version)


async def list_evaluations(session: AsyncSession, run_id: UUID) -> list[EvaluationOut]:
    rows = (
        await session.execute(
            select(evaluations).where(e.run_id == run_id).order_by(e.stream_version)
        )
    ).all()
    run_pin = (
        await session.execute(select(r.evaluator_id, r.evaluator_version).where(r.run_id == run_id))
    ).first()
    evaluated = [row.evaluation_id for row in rows if row.status == "evaluated"]
    latest = evaluated[-1] if evaluated else None
    return [_out(row, run_pin, latest) for row in rows]


async def get_evaluation(
    session: AsyncSession, run_id: UUID, evaluation_id: UUID
) -> EvaluationOut | None:
    for found in await list_evaluations(session, run_id):
        if found.id == evaluation_id:
            return found
    return None


def _out(row: Any, run_pin: Any, latest: UUID | None) -> EvaluationOut:
    first = row.evaluation_id == row.run_id
    pin = _pin(row.evaluator_id, row.evaluator_version)
    if first and run_pin is not None:
        pin = _pin(run_pin.evaluator_id, run_pin.evaluator_version)
    return EvaluationOut(
        id=row.evaluation_id,
        run_id=row.run_id,
        first=first,
        latest=row.evaluation_id == latest,
        evaluator=pin,
        status=row.status,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        evaluated_at=row.evaluated_at,
        summary=row.summary,
    )
