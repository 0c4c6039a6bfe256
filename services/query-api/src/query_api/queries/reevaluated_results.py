"""A run's results as a RE-evaluation shows them (``evaluation_sources``): the stored result
rows with that evaluation's metrics and verdicts, rendered per request with the projection's
renderer (``projections.result_documents.render``), so each result is the same JSON shape the
stored documents have. Stored documents show the run's first evaluation; re-evaluations are
read this slower way (a correlated metrics read and a render per result), which they can afford:
they are asked for one run at a time, not on every page view of every run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, ColumnElement, Select, and_, exists, func, literal_column, not_, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from query_api.projections.result_documents import RESULT_COLUMNS, render
from query_api.queries.evaluation_sources import EvaluationSource
from query_api.queries.result_filters import ResultFilter
from query_api.tables import results, runs

res = results.c
CHUNK = 2000


def conditions(found: ResultFilter, source: EvaluationSource) -> list[ColumnElement[Any]]:
    """``found``'s filters on the source's metrics (same meaning as on stored documents: a
    result passed when its call succeeded and none of its checks failed)."""
    m = source.metrics.c
    where: list[ColumnElement[Any]] = []
    if found.passed is not None:
        any_failed = exists(
            select(m.result_id).where(m.result_id == res.result_id, m.passed.is_(False))
        )
        ok = and_(res.error.is_(None), not_(any_failed))
        where.append(ok if found.passed else not_(ok))
    if found.failed_check is not None:
        where.append(
            exists(
                select(m.result_id).where(
                    m.result_id == res.result_id,
                    m.name == found.failed_check,
                    m.passed.is_(False),
                )
            )
        )
    if found.case_index is not None:
        where.append(res.case_index == found.case_index)
    if found.q:
        pattern = "%" + found.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(res.output.ilike(pattern + "%", escape="\\"))
    return where


def _metrics_json(source: EvaluationSource) -> ColumnElement[Any]:
    m = source.metrics.c
    return (
        select(
            func.coalesce(
                func.json_agg(
                    aggregate_order_by(
                        func.json_build_object(
                            "name", m.name, "value", m.value, "passed", m.passed, "detail", m.detail
                        ),
                        m.name,
                    )
                ),
                literal_column("'[]'::json"),
                type_=JSON,
            )
        )
        .where(m.result_id == res.result_id)
        .scalar_subquery()
    )


def _rows(
    run_id: UUID, where: Sequence[ColumnElement[Any]], source: EvaluationSource
) -> Select[Any]:
    v = source.verdicts.c
    return (
        select(
            *RESULT_COLUMNS,
            _metrics_json(source).label("metrics"),
            select(runs.c.currency)
            .where(runs.c.run_id == res.run_id)
            .scalar_subquery()
            .label("currency"),
            v.passed,
            v.score,
            v.reasons,
            v.judgements,
            v.output_checks,
        )
        .outerjoin(source.verdicts, v.result_id == res.result_id)
        .where(and_(res.run_id == run_id, *where))
        .order_by(res.case_index, res.repetition, res.result_id)
    )


async def page(
    session: AsyncSession,
    run_id: UUID,
    limit: int,
    offset: int,
    found: ResultFilter,
    source: EvaluationSource,
) -> tuple[int, list[str]]:
    where = conditions(found, source)
    total = int(
        await session.scalar(
            select(func.count()).select_from(results).where(and_(res.run_id == run_id, *where))
        )
        or 0
    )
    if total <= offset:
        return total, []
    rows = await session.execute(_rows(run_id, where, source).limit(limit).offset(offset))
    return total, [render(row._mapping)["document"] for row in rows]


async def ndjson(
    sessions: async_sessionmaker[AsyncSession],
    run_id: UUID,
    found: ResultFilter,
    source: EvaluationSource,
) -> AsyncIterator[bytes]:
    query = _rows(run_id, conditions(found, source), source).execution_options(yield_per=CHUNK)
    async with sessions() as session:
        await session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
        stream = await session.stream(query)
        async for rows in stream.partitions(CHUNK):
            yield ("\n".join(render(row._mapping)["document"] for row in rows) + "\n").encode()
