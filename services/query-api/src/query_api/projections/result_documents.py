"""Each result's public JSON, rendered once in the projection instead of on every read.

A result's document depends on four things that arrive separately: the result itself
(``ResultRecorded``), its metrics and verdict (``ResultEvaluated``, on another topic, possibly
first) and its run's currency (``RunCreated``). Whichever of them is applied, the handler calls
``refresh`` for the results it touched, in its own transaction: the document is re-rendered
from the read model's current rows, so it depends only on the final state, never on the order
in which events arrived (a rebuild yields the same bytes). ``ok`` and ``failed_checks`` (the
``passed`` and ``failed_check`` filters) are derived from the same rows beside it.

Rendering goes through ``ResultOut`` and pydantic-core, the serialiser the API used per request
before, so the stored bytes are exactly what the paged list and the export answered.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC
from typing import Any
from uuid import UUID

from pydantic import TypeAdapter
from sqlalchemy import JSON, ColumnElement, Connection, Select, literal_column, select
from sqlalchemy import func as f
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from query_api.projections._util import any_of, unnest_source
from query_api.schemas.runs import ResultOut, money
from query_api.tables import metrics, result_verdicts, results, runs

RESULT = TypeAdapter(ResultOut)
res = results.c
DERIVED = ("document", "ok", "failed_checks")
RESULT_COLUMNS = [column for column in results.c if column.name not in DERIVED]


def metrics_json(result_id: ColumnElement[Any]) -> ColumnElement[Any]:
    """The metrics of the result ``result_id`` as one JSON list, in name order."""
    m = metrics.c
    return (
        select(
            f.coalesce(
                f.json_agg(
                    aggregate_order_by(
                        f.json_build_object(
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


VERDICT_COLUMNS = (
    result_verdicts.c.passed,
    result_verdicts.c.score,
    result_verdicts.c.reasons,
    result_verdicts.c.judgements,
    result_verdicts.c.output_checks,
)
NO_VERDICT: Mapping[str, Any] = dict.fromkeys(c.name for c in VERDICT_COLUMNS)


def sources(where: ColumnElement[bool]) -> Select[Any]:
    """Everything a document is rendered from, for the results ``where`` selects."""
    return (
        select(
            *RESULT_COLUMNS,
            metrics_json(res.result_id).label("metrics"),
            select(runs.c.currency)
            .where(runs.c.run_id == res.run_id)
            .scalar_subquery()
            .label("currency"),
            *VERDICT_COLUMNS,
        )
        .outerjoin(result_verdicts, result_verdicts.c.result_id == res.result_id)
        .where(where)
    )


def render(row: Mapping[Any, Any]) -> dict[str, Any]:
    """The stored columns of one result (``row``: its columns, ``metrics``, ``currency`` and
    the verdict's): its document, ``ok`` and ``failed_checks``."""
    found: list[dict[str, Any]] = row["metrics"] or []
    failed = sorted({m["name"] for m in found if m["passed"] is False})
    document = ResultOut(
        id=row["result_id"],
        run_id=row["run_id"],
        case_index=row["case_index"],
        repetition=row["repetition"],
        output=row["output"],
        latency_ms=row["latency_ms"],
        prompt_tokens=row["prompt_tokens"],
        completion_tokens=row["completion_tokens"],
        total_tokens=row["total_tokens"],
        finish_reason=row["finish_reason"],
        error=row["error"],
        created_at=row["created_at"].astimezone(UTC),  # as read back from PostgreSQL
        cost=money(row["cost"], row["currency"]),
        cached=row["cached"],
        metrics=found,
        passed=row["passed"],
        score=row["score"],
        reasons=row["reasons"] or [],
        judgements=row["judgements"] or [],
        output_checks=row["output_checks"],
    )
    return {
        "result_id": row["result_id"],
        "document": RESULT.dump_json(document).decode(),
        "ok": row["error"] is None and not failed,
        "failed_checks": failed,
    }


DOCUMENT_TYPES = {
    "result_id": res.result_id.type,
    "document": res.document.type,
    "ok": res.ok.type,
    "failed_checks": res.failed_checks.type,
}


def _store(rendered: Sequence[dict[str, Any]]) -> Any:
    """One UPDATE of ``results`` from the rendered rows (one array parameter per column)."""
    source = unnest_source(DOCUMENT_TYPES, rendered, name="rendered")
    return (
        results.update()
        .where(res.result_id == source.c.result_id)
        .values(document=source.c.document, ok=source.c.ok, failed_checks=source.c.failed_checks)
    )


async def refresh(session: AsyncSession, where: ColumnElement[bool]) -> None:
    """Re-renders the documents of the results ``where`` selects (those that exist)."""
    rows = (await session.execute(sources(where))).all()
    if rows:
        await session.execute(_store([render(row._mapping) for row in rows]))


async def render_new(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Adds ``document``, ``ok`` and ``failed_checks`` to result rows about to be inserted, so
    a new result is written once (not inserted, then updated). Their metrics and verdicts may
    already be applied (another topic); their run's currency is read from ``runs``."""
    ids = [row["result_id"] for row in rows]
    m, v = metrics.c, result_verdicts.c
    found: dict[UUID, list[dict[str, Any]]] = {}
    # Name order as PostgreSQL sorts it: the order ``metrics_json`` aggregates in.
    for metric in await session.execute(
        select(m.result_id, m.name, m.value, m.passed, m.detail)
        .where(any_of(m.result_id, ids))
        .order_by(m.result_id, m.name)
    ):
        found.setdefault(metric.result_id, []).append(dict(metric._mapping))
    verdicts = {
        verdict.result_id: verdict._mapping
        for verdict in await session.execute(
            select(*VERDICT_COLUMNS, v.result_id).where(any_of(v.result_id, ids))
        )
    }
    run_ids = list({row["run_id"] for row in rows})
    currencies = {
        run_id: currency
        for run_id, currency in await session.execute(
            select(runs.c.run_id, runs.c.currency).where(any_of(runs.c.run_id, run_ids))
        )
    }
    for row in rows:
        metrics_of = [
            {key: value for key, value in metric.items() if key != "result_id"}
            for metric in found.get(row["result_id"], [])
        ]
        verdict = verdicts.get(row["result_id"], NO_VERDICT)
        row.update(
            render(
                {
                    **row,
                    "metrics": metrics_of,
                    "currency": currencies.get(row["run_id"]),
                    **{c.name: verdict[c.name] for c in VERDICT_COLUMNS},
                }
            )
        )


async def refresh_results(session: AsyncSession, result_ids: Sequence[UUID]) -> None:
    if result_ids:
        await refresh(session, any_of(res.result_id, result_ids))


async def refresh_runs(session: AsyncSession, run_ids: Sequence[UUID]) -> None:
    """The results of these runs (a run's currency is in every cost it shows)."""
    if run_ids:
        await refresh(session, any_of(res.run_id, run_ids))


def backfill(connection: Connection, chunk: int = 2000) -> int:
    """Renders every result without a document (a migration's synchronous connection)."""
    done = 0
    for ids in _missing(connection, chunk):
        rows = connection.execute(sources(any_of(res.result_id, ids))).all()
        connection.execute(_store([render(row._mapping) for row in rows]))
        done += len(rows)
    return done


def _missing(connection: Connection, chunk: int) -> Iterator[list[UUID]]:
    while True:
        ids = list(
            connection.scalars(select(res.result_id).where(res.document.is_(None)).limit(chunk))
        )
        if not ids:
            return
        yield ids
