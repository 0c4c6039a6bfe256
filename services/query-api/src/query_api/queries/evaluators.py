"""Reads of evaluator definitions: the list (fuzzy ``q`` on the name), one with its latest
version, its versions, one version, and its history (creation, then each version)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.values import RECORDED
from query_api.schemas.evaluators import (
    EvaluatorChangeOut,
    EvaluatorOut,
    EvaluatorSummaryOut,
    EvaluatorVersionOut,
)
from query_api.tables import evaluator_versions, evaluators

e = evaluators.c
v = evaluator_versions.c


def _summary(row: Any) -> EvaluatorSummaryOut:
    return EvaluatorSummaryOut(
        id=row.evaluator_id,
        name=row.name,
        description=row.description,
        created_by=row.created_by,
        latest_version=row.latest_version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        stream_version=row.stream_version,
    )


def _version(row: Any) -> EvaluatorVersionOut:
    # Stored definitions were valid when recorded: read them without re-checking.
    return EvaluatorVersionOut.model_validate(
        {
            "evaluator_id": row.evaluator_id,
            "version": row.version,
            "assertions": row.assertions,
            "message": row.message,
            "actor": row.actor,
            "created_at": row.created_at,
        },
        context=RECORDED,
    )


async def list_evaluators(
    session: AsyncSession, project: str, q: str | None, limit: int, offset: int
) -> tuple[int, list[EvaluatorSummaryOut]]:
    """The project's, by name; with ``q``, names containing it or similar to it, best first."""
    term = (q or "").strip()
    match: ColumnElement[bool] = e.project_id == project
    order: list[Any] = [e.name, e.evaluator_id]
    if term:
        pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        match = and_(match, or_(e.name.ilike(pattern), e.name.op("%>")(term)))
        order = [func.word_similarity(term, e.name).desc(), *order]
    count = select(func.count()).select_from(evaluators).where(match)
    total = (await session.execute(count)).scalar_one()
    rows = await session.execute(
        select(evaluators).where(match).order_by(*order).limit(limit).offset(offset)
    )
    return total, [_summary(row) for row in rows]


async def get_evaluator(session: AsyncSession, evaluator_id: UUID) -> EvaluatorOut | None:
    row = (await session.execute(select(evaluators).where(e.evaluator_id == evaluator_id))).first()
    if row is None:
        return None
    latest = await get_version(session, evaluator_id, row.latest_version)
    return EvaluatorOut(**_summary(row).model_dump(), latest=latest)


async def list_versions(
    session: AsyncSession, evaluator_id: UUID, limit: int, offset: int
) -> tuple[int, list[EvaluatorVersionOut]]:
    """Newest first."""
    where = v.evaluator_id == evaluator_id
    total = (
        await session.execute(select(func.count()).select_from(evaluator_versions).where(where))
    ).scalar_one()
    rows = await session.execute(
        select(evaluator_versions)
        .where(where)
        .order_by(v.version.desc())
        .limit(limit)
        .offset(offset)
    )
    return total, [_version(row) for row in rows]


async def get_version(
    session: AsyncSession, evaluator_id: UUID, version: int
) -> EvaluatorVersionOut | None:
    row = (
        await session.execute(
            select(evaluator_versions).where(v.evaluator_id == evaluator_id, v.version == version)
        )
    ).first()
    return None if row is None else _version(row)


async def history(
    session: AsyncSession, evaluator_id: UUID, limit: int, offset: int
) -> tuple[int, list[EvaluatorChangeOut]] | None:
    """Every change, oldest first: the creation, then each version."""
    row = (await session.execute(select(evaluators).where(e.evaluator_id == evaluator_id))).first()
    if row is None:
        return None
    created = EvaluatorChangeOut(
        kind="created",
        version=None,
        actor=row.created_by,
        message="",
        at=row.created_at,
        stream_version=1,
    )
    versions = await session.execute(
        select(v.version, v.actor, v.message, v.created_at, v.stream_version)
        .where(v.evaluator_id == evaluator_id)
        .order_by(v.version)
    )
    changes = [
        created,
        *(
            EvaluatorChangeOut(
                kind="version_created",
                version=found.version,
                actor=found.actor,
                message=found.message,
                at=found.created_at,
                stream_version=found.stream_version,
            )
            for found in versions
        ),
    ]
    return len(changes), changes[offset : offset + limit]
