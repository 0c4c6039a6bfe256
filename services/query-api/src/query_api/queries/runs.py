"""Reads of runs and their results.

A results page costs three queries whatever its size: the run's existence, the count, and one
query that returns the page of results, each with its metrics aggregated by PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import JSON, ColumnElement, Row, and_, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.projects import DEFAULT_PROJECT
from promptworks_contracts.values import Money
from query_api.queries.run_filters import RunFilter
from query_api.schemas.runs import MoneyOut, ResultOut, RunOut, RunStatus
from query_api.tables import metrics, result_verdicts, results, runs

r = runs.c
VERDICT_COLUMNS = (
    result_verdicts.c.passed,
    result_verdicts.c.score,
    result_verdicts.c.reasons,
    result_verdicts.c.judgements,
    result_verdicts.c.output_checks,
)
"""A result's verdict, read beside it (outer join on ``result_verdicts``)."""


async def list_runs(
    session: AsyncSession,
    *,
    status: RunStatus | None,
    prompt_version_id: UUID | None,
    prompt_id: UUID | None,
    limit: int,
    offset: int,
    batch_id: str | None = None,
    more: RunFilter | None = None,
    project: str = DEFAULT_PROJECT,
) -> tuple[int, list[RunOut]]:
    """A page of the project's runs (newest first, or ``more.sort``) and the total that match
    the filters."""
    more = more or RunFilter()
    conditions = [r.project_id == project, *more.conditions()]
    if status is not None:
        conditions.append(r.status == status)
    if prompt_version_id is not None:
        conditions.append(r.prompt_version_id == prompt_version_id)
    if prompt_id is not None:
        conditions.append(r.prompt_id == prompt_id)
    if batch_id is not None:
        conditions.append(r.batch_id == batch_id)
    where = and_(*conditions) if conditions else None
    count = select(func.count()).select_from(runs)
    page = select(runs).order_by(*more.order()).limit(limit).offset(offset)
    if where is not None:
        count, page = count.where(where), page.where(where)
    total = int(await session.scalar(count) or 0)
    rows = (await session.execute(page)).all() if total > offset else []
    return total, [_run(row) for row in rows]


async def get_run(session: AsyncSession, run_id: UUID, project: str | None = None) -> RunOut | None:
    """The run (with ``project``: only if it is that project's)."""
    query = select(runs).where(r.run_id == run_id)
    if project is not None:
        query = query.where(r.project_id == project)
    row = (await session.execute(query)).first()
    return None if row is None else _run(row)


async def run_exists(session: AsyncSession, run_id: UUID) -> bool:
    return (await session.scalar(select(r.run_id).where(r.run_id == run_id))) is not None


async def list_results(
    session: AsyncSession,
    run_id: UUID,
    limit: int,
    offset: int,
    where: Sequence[ColumnElement[Any]] = (),
) -> tuple[int, list[ResultOut]]:
    """A page of a run's results ordered by (case_index, repetition), metrics attached;
    ``where``: more conditions on ``results`` (``queries.result_filters``)."""
    res = results.c
    matching = and_(res.run_id == run_id, *where)
    total = int(
        await session.scalar(select(func.count()).select_from(results).where(matching)) or 0
    )
    if total <= offset:
        return total, []
    page = (
        select(results)
        .where(matching)
        .order_by(res.case_index, res.repetition, res.result_id)
        .limit(limit)
        .offset(offset)
        .cte("page")
    )
    # One query: each result of the page with its metrics aggregated (name order) in PG and
    # its verdict (null until evaluated).
    rows = await session.execute(
        select(
            page,
            metrics_json(page.c.result_id).label("metrics"),
            select(r.currency).where(r.run_id == run_id).scalar_subquery().label("currency"),
            *VERDICT_COLUMNS,
        )
        .outerjoin(result_verdicts, result_verdicts.c.result_id == page.c.result_id)
        .order_by(page.c.case_index, page.c.repetition, page.c.result_id)
    )
    return total, [ResultOut(**result_fields(row)) for row in rows]


def metrics_json(result_id: ColumnElement[Any]) -> ColumnElement[Any]:
    """The metrics of the result ``result_id`` as one JSON list, in name order."""
    m = metrics.c
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
        .where(m.result_id == result_id)
        .scalar_subquery()
    )


def result_fields(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.result_id,
        "run_id": row.run_id,
        "case_index": row.case_index,
        "repetition": row.repetition,
        "output": row.output,
        "latency_ms": row.latency_ms,
        "prompt_tokens": row.prompt_tokens,
        "completion_tokens": row.completion_tokens,
        "total_tokens": row.total_tokens,
        "finish_reason": row.finish_reason,
        "error": row.error,
        "created_at": row.created_at,
        "cost": money(row.cost, row.currency),
        "cached": row.cached,
        "metrics": row.metrics,
        "passed": row.passed,
        "score": row.score,
        "reasons": row.reasons or [],
        "judgements": row.judgements or [],
        "output_checks": row.output_checks,
    }


def _run(row: Row[Any]) -> RunOut:
    parameters: dict[str, Any] = row.parameters or {}
    return RunOut(
        id=row.run_id,
        prompt_id=row.prompt_id,
        prompt_version_id=row.prompt_version_id,
        prompt_version_number=row.prompt_version_number,
        provider=row.provider,
        model_name=row.model_name,
        model_version=row.model_version,
        temperature=parameters.get("temperature"),
        top_p=parameters.get("top_p"),
        parameters=parameters,
        repetitions=row.repetitions,
        case_count=row.case_count,
        total_calls=row.total_calls,
        assertions=row.assertions,
        status=row.status,
        failure_reason=row.failure_reason,
        cancelled_by=row.cancelled_by,
        label=row.label,
        cost=money(row.cost, row.currency),
        estimated_cost=money(row.estimated_cost, row.currency),
        budget=money(row.budget, row.currency),
        retry_of=row.retry_of,
        recorded=row.recorded,
        succeeded=row.succeeded,
        failed=row.failed,
        notes=row.notes,
        batch_id=row.batch_id,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        evaluation_summary=row.evaluation_summary,
        stream_version=row.stream_version,
    )


def money(amount: Decimal | None, currency: str | None) -> MoneyOut | None:
    if amount is None or currency is None:
        return None
    return money_out(amount, currency)


def money_out(amount: Decimal, currency: str) -> MoneyOut:
    """One spelling per amount (``0.00125``): the contracts' ``Money`` makes it canonical."""
    canonical = Money(amount=amount, currency=currency)
    return MoneyOut(amount=canonical.amount, currency=canonical.currency)
