"""Usage of the models: calls, tokens and cost per provider, model and prompt, and per UTC day,
of one project, over the runs' results and the quick tests (``quick_tests``) together. Amounts
are summed per currency (never across currencies)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Date,
    and_,
    cast,
    false,
    func,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from query_api.queries.conditions import equal_where_given
from query_api.schemas.runs import money_out
from query_api.schemas.usage import (
    UsageFigures,
    UsageGroup,
    UsageOverview,
    UsagePoint,
    UsageSeries,
)
from query_api.tables import quick_tests, results, runs

res, r, q = results.c, runs.c, quick_tests.c

# Every model call, one row each: a run's result (its run gives the model, prompt and
# currency) or a quick test. PostgreSQL pushes the window's conditions into both branches.
calls = union_all(
    select(
        r.project_id, r.provider, r.model_name, r.prompt_id, r.currency, res.created_at,
        res.error, res.cached, res.prompt_tokens, res.completion_tokens, res.total_tokens,
        res.cost, false().label("quick"),
    ).select_from(results.join(runs, res.run_id == r.run_id)),
    select(
        q.project_id, q.provider, q.model_name, q.prompt_id, q.currency, q.created_at,
        q.error, false().label("cached"), q.prompt_tokens, q.completion_tokens,
        q.total_tokens, q.cost, true().label("quick"),
    ),
).subquery("calls")  # fmt: skip
c = calls.c

_FIGURES = (
    func.count().label("calls"),
    func.count().filter(c.error.is_not(None)).label("failed_calls"),
    func.count().filter(c.cached).label("cached_calls"),
    func.count().filter(c.quick).label("quick_test_calls"),
    func.coalesce(func.sum(c.prompt_tokens), 0).label("prompt_tokens"),
    func.coalesce(func.sum(c.completion_tokens), 0).label("completion_tokens"),
    func.coalesce(func.sum(c.total_tokens), 0).label("total_tokens"),
    func.sum(c.cost).label("cost"),
    func.count().filter(c.currency.is_(None)).label("uncosted_calls"),
)


def _window(
    project: str,
    start: datetime | None,
    end: datetime | None,
    provider: str | None = None,
    model_name: str | None = None,
    prompt_id: UUID | None = None,
) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = [c.project_id == project]
    if start is not None:
        conditions.append(c.created_at >= start)
    if end is not None:
        conditions.append(c.created_at < end)
    conditions += equal_where_given(
        (c.provider, provider), (c.model_name, model_name), (c.prompt_id, prompt_id)
    )
    return and_(*conditions)


async def _grouped(
    session: AsyncSession, keys: Sequence[ColumnElement[Any]], where: ColumnElement[bool]
) -> dict[tuple[Any, ...], UsageFigures]:
    """Figures per key, the per-currency rows of each key folded into one."""
    query = select(*keys, c.currency, *_FIGURES).where(where).group_by(*keys, c.currency)
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
    "calls", "failed_calls", "cached_calls", "quick_test_calls", "prompt_tokens",
    "completion_tokens", "total_tokens", "uncosted_calls",
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
    models = await _grouped(session, [c.provider, c.model_name], where)
    prompts = await _grouped(session, [c.prompt_id], where)
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
    day = cast(func.timezone("UTC", c.created_at), Date).label("day")
    where = _window(project, start, end, provider, model_name, prompt_id)
    points = await _grouped(session, [day], where)
    series = [UsagePoint(day=d, **f.model_dump()) for (d,), f in sorted(points.items())]
    return UsageSeries(start=start, end=end, points=series)
