"""Usage of the models, from the runs' results: calls, tokens and cost per provider, model and
prompt, and per UTC day, of one project. Amounts are summed per currency (never across
currencies). Quick tests are not in the read model yet, so they are not counted."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Date, and_, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from query_api.schemas.runs import money_out
from query_api.schemas.usage import (
    UsageFigures,
    UsageGroup,
    UsageOverview,
    UsagePoint,
    UsageSeries,
)
from query_api.tables import results, runs

res, r = results.c, runs.c

_FIGURES = (
    func.count().label("calls"),
    func.count().filter(res.error.is_not(None)).label("failed_calls"),
    func.count().filter(res.cached).label("cached_calls"),
    func.coalesce(func.sum(res.prompt_tokens), 0).label("prompt_tokens"),
    func.coalesce(func.sum(res.completion_tokens), 0).label("completion_tokens"),
    func.coalesce(func.sum(res.total_tokens), 0).label("total_tokens"),
    func.sum(res.cost).label("cost"),
    func.count().filter(r.currency.is_(None)).label("uncosted_calls"),
)


def _window(
    project: str,
    start: datetime | None,
    end: datetime | None,
    provider: str | None = None,
    model_name: str | None = None,
    prompt_id: UUID | None = None,
) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = [r.project_id == project]
    if start is not None:
        conditions.append(res.created_at >= start)
    if end is not None:
        conditions.append(res.created_at < end)
    if provider is not None:
        conditions.append(r.provider == provider)
    if model_name is not None:
        conditions.append(r.model_name == model_name)
    if prompt_id is not None:
        conditions.append(r.prompt_id == prompt_id)
    return and_(res.run_id == r.run_id, *conditions)


async def _grouped(
    session: AsyncSession, keys: Sequence[ColumnElement[Any]], where: ColumnElement[bool]
) -> dict[tuple[Any, ...], UsageFigures]:
    """Figures per key, the per-currency rows of each key folded into one."""
    query = (
        select(*keys, r.currency, *_FIGURES)
        .select_from(results.join(runs, res.run_id == r.run_id))
        .where(where)
        .group_by(*keys, r.currency)
    )
    folded: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in (await session.execute(query)).all():
        key = tuple(row[: len(keys)])
        into = folded.setdefault(key, {"costs": {}, **dict.fromkeys(_COUNTS, 0)})
        for name in _COUNTS:
            into[name] += int(getattr(row, name))
        if row.currency is not None and row.cost is not None:
            into["costs"][row.currency] = into["costs"].get(row.currency, Decimal(0)) + row.cost
    return {key: _figures(values) for key, values in folded.items()}


_COUNTS = (
    "calls", "failed_calls", "cached_calls", "prompt_tokens", "completion_tokens",
    "total_tokens", "uncosted_calls",
)  # fmt: skip


def _figures(values: dict[str, Any]) -> UsageFigures:
    costs = [money_out(amount, currency) for currency, amount in sorted(values["costs"].items())]
    return UsageFigures(cost=costs, **{name: values[name] for name in _COUNTS})


EMPTY = _figures({"costs": {}, **dict.fromkeys(_COUNTS, 0)})


async def overview(
    session: AsyncSession, project: str, start: datetime | None, end: datetime | None
) -> UsageOverview:
    where = _window(project, start, end)
    totals = (await _grouped(session, [], where)).get((), EMPTY)
    models = await _grouped(session, [r.provider, r.model_name], where)
    prompts = await _grouped(session, [r.prompt_id], where)
    by_model = [
        UsageGroup(provider=p, model_name=m, **f.model_dump()) for (p, m), f in models.items()
    ]
    by_prompt = [UsageGroup(prompt_id=p, **f.model_dump()) for (p,), f in prompts.items()]
    return UsageOverview(
        start=start,
        end=end,
        totals=totals,
        by_model=sorted(by_model, key=lambda g: (-g.calls, g.provider or "", g.model_name or "")),
        by_prompt=sorted(by_prompt, key=lambda g: (-g.calls, str(g.prompt_id))),
    )


async def daily(
    session: AsyncSession,
    project: str,
    start: datetime | None,
    end: datetime | None,
    provider: str | None,
    model_name: str | None,
    prompt_id: UUID | None,
) -> UsageSeries:
    day = cast(func.timezone("UTC", res.created_at), Date).label("day")
    where = _window(project, start, end, provider, model_name, prompt_id)
    points = await _grouped(session, [day], where)
    series = [UsagePoint(day=d, **f.model_dump()) for (d,), f in sorted(points.items())]
    return UsageSeries(start=start, end=end, points=series)
