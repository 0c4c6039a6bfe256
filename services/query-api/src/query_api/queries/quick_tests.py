"""Reads of the quick-test history (``quick_tests``): a project's, newest first, with filters."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from query_api.queries.conditions import equal_where_given
from query_api.schemas.quick_tests import QuickTestOut, QuickTestUsageOut
from query_api.schemas.runs import money
from query_api.tables import quick_tests

q = quick_tests.c


def where(
    project: str,
    prompt_id: UUID | None = None,
    provider: str | None = None,
    model_name: str | None = None,
    failed: bool | None = None,
) -> list[ColumnElement[bool]]:
    """The conditions of the list's filters (None: not filtered)."""
    conditions = [
        q.project_id == project,
        *equal_where_given(
            (q.prompt_id, prompt_id), (q.provider, provider), (q.model_name, model_name)
        ),
    ]
    if failed is not None:
        conditions.append(q.error.is_not(None) if failed else q.error.is_(None))
    return conditions


async def list_quick_tests(
    session: AsyncSession, conditions: list[ColumnElement[bool]], limit: int, offset: int
) -> tuple[int, list[QuickTestOut]]:
    """A page of quick tests, newest first, and how many match."""
    total = int(await session.scalar(select(func.count()).where(*conditions)) or 0)
    if total <= offset:
        return total, []
    page = (
        select(quick_tests)
        .where(*conditions)
        .order_by(q.created_at.desc(), q.quick_test_id.desc())
        .limit(limit)
        .offset(offset)
    )
    return total, [_quick_test(row) for row in (await session.execute(page)).all()]


async def get_quick_test(
    session: AsyncSession, quick_test_id: UUID, project: str | None = None
) -> QuickTestOut | None:
    """The quick test (with ``project``: only if it is that project's)."""
    query = select(quick_tests).where(q.quick_test_id == quick_test_id)
    if project is not None:
        query = query.where(q.project_id == project)
    row = (await session.execute(query)).first()
    return None if row is None else _quick_test(row)


def _quick_test(row: Row[Any]) -> QuickTestOut:
    return QuickTestOut(
        id=row.quick_test_id,
        prompt_id=row.prompt_id,
        prompt_version_id=row.prompt_version_id,
        prompt_version_number=row.prompt_version_number,
        label=row.label,
        provider=row.provider,
        model_name=row.model_name,
        parameters=row.parameters,
        variables=row.variables,
        output=row.output,
        error=row.error,
        usage=QuickTestUsageOut(
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            total_tokens=row.total_tokens,
        ),
        cost=money(row.cost, row.currency),
        latency_ms=row.latency_ms,
        finish_reason=row.finish_reason,
        streamed=row.streamed,
        actor=row.actor,
        created_at=row.created_at,
    )
