"""The run list's page as JSON built by PostgreSQL (ADR 0025): query-api passes the bytes on.

A run row changes with every batch of results (counters, cost), so its document is not stored
(ADR 0019's addendum): the page's JSON is built at read time from the row, one
``json_build_object`` per run with the JSONB columns embedded as they are, aggregated into one
array. Python then neither decodes four JSONB columns per row nor builds and serialises 50
``RunOut``; it receives one text value.

The document is ``RunOut`` field for field, in its order (``updated_at``, its computed field,
last), with pydantic's spellings: timestamps in UTC with ``Z`` and microseconds only when not
zero, amounts as canonical decimal strings (``Money``: ``trim_scale``), ``temperature`` and
``top_p`` read from ``parameters``. ``tests/test_runs.py`` compares it with ``RunOut``'s own
rendering for a varied set of rows, so the two cannot drift apart unnoticed. (Whitespace and
the spelling of a number inside a JSONB column may differ from pydantic's: ``1e-07`` comes
back as ``0.0000001``; the values are equal.)

One statement per page (``hot_reads``: the total, the page and its JSON in one snapshot), built
and compiled once per filter shape (which filters are present, and the sort) with bound
parameters, not per request. The unfiltered list's total is the projection's ``run_counts``
(a few rows per project), not a count of the project's runs (7-10 ms of an 11 ms statement at
10,000 runs).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql.selectable import Subquery

from query_api.hot_reads import HotReads
from query_api.prepared import Prepared, constant
from query_api.projections.prompt_json import iso
from query_api.queries.run_filters import RunFilter
from query_api.tables import run_counts, runs

FILTERS = (
    "status",
    "prompt_version_id",
    "prompt_id",
    "batch_id",
    "provider",
    "model_name",
    "created_after",
    "created_before",
)
"""Optional filters of the run list, each one bound parameter of the same name."""

_EMPTY: ColumnElement[Any] = literal_column("'[]'::json")


def _money(amount: ColumnElement[Any], currency: ColumnElement[Any]) -> ColumnElement[Any]:
    return case(
        (amount.is_(None) | currency.is_(None), None),
        else_=func.json_build_object(
            constant("amount"), cast(func.trim_scale(amount), Text), constant("currency"), currency
        ),
    )


def document(row: Any) -> ColumnElement[Any]:
    """``RunOut`` of ``row`` (a FROM clause with the columns of ``runs``) as json."""
    c = row.c
    fields: list[tuple[str, ColumnElement[Any]]] = [
        ("id", c.run_id),
        ("prompt_id", c.prompt_id),
        ("prompt_version_id", c.prompt_version_id),
        ("prompt_version_number", c.prompt_version_number),
        ("provider", c.provider),
        ("model_name", c.model_name),
        ("model_version", c.model_version),
        ("temperature", c.parameters.op("->")(constant("temperature"))),
        ("top_p", c.parameters.op("->")(constant("top_p"))),
        ("parameters", c.parameters),
        ("repetitions", c.repetitions),
        ("case_count", c.case_count),
        ("total_calls", c.total_calls),
        ("assertions", c.assertions),
        ("status", c.status),
        ("failure_reason", c.failure_reason),
        ("cancelled_by", c.cancelled_by),
        ("label", c.label),
        ("cost", _money(c.cost, c.currency)),
        ("estimated_cost", _money(c.estimated_cost, c.currency)),
        ("budget", _money(c.budget, c.currency)),
        ("retry_of", c.retry_of),
        (
            "evaluator",
            case(
                (c.evaluator_id.is_(None), None),
                else_=func.json_build_object(
                    constant("evaluator_id"),
                    c.evaluator_id,
                    constant("version"),
                    c.evaluator_version,
                ),
            ),
        ),
        ("recorded", c.recorded),
        ("succeeded", c.succeeded),
        ("failed", c.failed),
        ("notes", c.notes),
        ("metadata", c.metadata),
        ("batch_id", c.batch_id),
        ("created_at", iso(c.created_at)),
        ("started_at", iso(c.started_at)),
        ("finished_at", iso(c.finished_at)),
        ("evaluation_summary", c.evaluation_summary),
        ("stream_version", c.stream_version),
        ("updated_at", iso(func.coalesce(c.finished_at, c.started_at, c.created_at))),
    ]
    return func.json_build_object(
        *(part for name, value in fields for part in (constant(name), value))
    )


def _conditions(present: tuple[str, ...]) -> list[ColumnElement[bool]]:
    r = runs.c
    column = {
        "status": r.status,
        "prompt_version_id": r.prompt_version_id,
        "prompt_id": r.prompt_id,
        "batch_id": r.batch_id,
        "provider": r.provider,
        "model_name": r.model_name,
    }
    found: list[ColumnElement[bool]] = [r.project_id == bindparam("project")]
    for name in present:
        if name == "created_after":
            found.append(r.created_at >= bindparam(name, type_=r.created_at.type))
        elif name == "created_before":
            found.append(r.created_at < bindparam(name, type_=r.created_at.type))
        else:
            found.append(column[name] == bindparam(name, type_=column[name].type))
    return found


@cache
def statement(present: tuple[str, ...], sort: str) -> Prepared:
    """The page for the filters ``present`` (in ``FILTERS`` order) and ``sort``, in one
    statement (one snapshot): the total that match, how many runs the page holds and their
    JSON array (text)."""
    where = and_(*_conditions(present))
    if present:
        total = select(func.count()).select_from(runs).where(where).scalar_subquery()
    else:  # the project's whole list: its kept count, not a count of every run
        n = run_counts.c
        total = (
            select(func.coalesce(func.sum(n.runs), 0))
            .where(n.project_id == bindparam("project"))
            .scalar_subquery()
        )
    ordering = RunFilter(sort=sort)  # type: ignore[arg-type]
    page: Subquery = (
        select(runs)
        .where(where)
        .order_by(*ordering.order())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
        .subquery("page")
    )
    # Ordered in the page (an index range or a top-N sort), and again in the aggregate.
    in_order = aggregate_order_by(document(page), *ordering.order(page.c))
    body = func.coalesce(func.json_agg(in_order), _EMPTY)
    return Prepared(
        select(
            total.label("total"), func.count().label("count"), cast(body, Text).label("body")
        ).select_from(page)
    )


async def page(
    reads: HotReads,
    project: str,
    filters: dict[str, Any],
    sort: str,
    limit: int,
    offset: int,
) -> tuple[int, int, str]:
    """(the total that match, how many runs the page holds, the page's JSON array).
    ``filters``: values by name (``FILTERS``), None for an absent filter."""
    present = tuple(name for name in FILTERS if filters.get(name) is not None)
    params = {name: filters[name] for name in present}
    params.update(project=project, limit=limit, offset=offset)
    found = await reads.row(statement(present, sort), params)
    assert found is not None  # an aggregate: always one row
    return int(found["total"]), int(found["count"]), str(found["body"])


@cache
def _one() -> Prepared:
    r = runs.c
    found = select(cast(document(runs), Text)).where(
        r.run_id == bindparam("run_id", type_=r.run_id.type), r.project_id == bindparam("project")
    )
    return Prepared(found)


async def one(reads: HotReads, project: str, run_id: Any) -> str | None:
    """One run's document (``GET /test_prompt/{id}``), or None when the project has no such
    run. The same JSON as the run's item in the list, read in one statement."""
    found = await reads.row(_one(), {"project": project, "run_id": run_id})
    return None if found is None else str(found[0])
