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

import functools
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from pydantic import BaseModel, TypeAdapter, create_model
from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Select,
    Subquery,
    Text,
    Update,
    literal_column,
    select,
)
from sqlalchemy import func as f
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from query_api.projections._util import any_in, any_of, unnest_source
from query_api.projections.batched import execute_batched
from query_api.projections.result_json import REASON_FIELDS, document_json, evaluated_json
from query_api.schemas.runs import MoneyOut, ResultOut, money
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
    evaluated = _evaluated_fields(*as_written(row["metrics"] or [], row))
    failed = evaluated.pop("failed_checks")
    cost = money(row["cost"], row["currency"])
    created_at = row["created_at"].astimezone(UTC)  # as read back from PostgreSQL
    return {
        "result_id": row["result_id"],
        "document": document_json(row, created_at, cost, evaluated)
        or _model_document(row, created_at, cost, evaluated),
        "ok": row["error"] is None and not failed,
        "failed_checks": failed,
    }


def as_written(
    metrics: list[dict[str, Any]], verdict: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], Mapping[str, Any]]:
    """A result's metrics and verdict as its evaluation wrote them, from their rows read back:
    PostgreSQL's JSON writes a float column's integral value as an integer (``42``, not
    ``42.0``), and a reason comes back from JSONB with its keys in JSONB's order. Made as the
    models hold them, they are written by orjson (``result_json`` declines an int for a float
    and keys in another order); the bytes are the models' either way."""
    if any(m["value"].__class__ is int for m in metrics):  # not a bool: its class is bool
        metrics = [
            {**m, "value": float(m["value"])} if m["value"].__class__ is int else m for m in metrics
        ]
    score, reasons = verdict["score"], verdict["reasons"] or []
    if score.__class__ is int or any(tuple(r) != REASON_FIELDS for r in reasons):
        verdict = {
            **verdict,
            "score": float(score) if score.__class__ is int else score,
            "reasons": [
                {k: r[k] for k in REASON_FIELDS} if set(r) == set(REASON_FIELDS) else r
                for r in reasons
            ],
        }
    return metrics, verdict


def _model_document(
    row: Mapping[Any, Any], created_at: datetime, cost: MoneyOut | None, evaluated: dict[str, Any]
) -> str:
    """The document as ``ResultOut`` validates and serialises it (``document_json`` declined)."""
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
        created_at=created_at,
        cost=cost,
        cached=row["cached"],
        **evaluated,
    )
    return RESULT.dump_json(document).decode()


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
    already be applied (another topic); their run's currency is read from ``runs``: all three
    in one statement."""
    ids = [row["result_id"] for row in rows]
    run_ids = list({row["run_id"] for row in rows})
    [(found_json, verdicts_json, currencies_json)] = await execute_batched(
        session, _lookups, params={"ids": ids, "run_ids": run_ids}
    )
    found: dict[str, list[dict[str, Any]]] = {}
    for metric in orjson.loads(found_json):
        found.setdefault(metric.pop("result_id"), []).append(metric)
    verdicts = {verdict["result_id"]: verdict for verdict in orjson.loads(verdicts_json)}
    currencies = {UUID(run_id): c for run_id, c in orjson.loads(currencies_json).items()}
    for row in rows:
        key = str(row["result_id"])
        verdict = verdicts.get(key, NO_VERDICT)
        row.update(
            render(
                {
                    **row,
                    "metrics": found.get(key, []),
                    "currency": currencies.get(row["run_id"]),
                    **{name: verdict[name] for name in NO_VERDICT},
                }
            )
        )


def _json_of(
    rows: Select[Any],
    fields: Mapping[str, ColumnElement[Any]],
    order_by: Sequence[ColumnElement[Any]] = (),
) -> Any:
    """``rows`` as one JSON array of objects (``fields``, in ``order_by``), as text: ``[]`` for
    none."""
    each = f.json_build_object(
        *(x for name, c in fields.items() for x in (literal_column(f"'{name}'"), c))
    )
    return rows.with_only_columns(
        f.coalesce(
            f.json_agg(aggregate_order_by(each, *order_by) if order_by else each),
            literal_column("'[]'::json"),
        ).cast(Text)
    ).scalar_subquery()


def _lookups() -> Select[Any]:
    """What new results (``ids``) are rendered from besides themselves, as three JSON texts:
    their metrics (in name order as PostgreSQL sorts it: the order ``metrics_json`` aggregates
    in), their verdicts, and their runs' (``run_ids``) currencies (run id -> currency). One
    round trip."""
    m, v = metrics.c, result_verdicts.c
    currencies = f.coalesce(
        f.json_object_agg(runs.c.run_id, runs.c.currency), literal_column("'{}'::json")
    ).cast(Text)
    return select(
        _json_of(
            select(m.result_id).where(any_in(m.result_id, "ids")),
            {c.name: c for c in (m.result_id, m.name, m.value, m.passed, m.detail)},
            (m.result_id, m.name),
        ),
        _json_of(
            select(v.result_id).where(any_in(v.result_id, "ids")),
            {c.name: c for c in (v.result_id, *VERDICT_COLUMNS)},
        ),
        select(currencies).where(any_in(runs.c.run_id, "run_ids")).scalar_subquery(),
    )


EVALUATED = ("metrics", "passed", "score", "reasons", "judgements", "output_checks")
"""The fields of ``ResultOut`` an evaluation sets: consecutive, after every field of the
result itself and before the computed ones (``test_run_id``, ``tokens_used``)."""
EVALUATED_AT = ',"metrics":'
AFTER_EVALUATED = ',"test_run_id":'
"""Where the evaluated fields start and end in a document. Unique: inside a JSON string a quote
is always escaped, so these only match keys, and no object before or inside the evaluated
fields has such a key."""


@functools.cache
def _evaluated_part() -> type[BaseModel]:
    """A model of ``EVALUATED`` alone, with ``ResultOut``'s field definitions and config: its
    JSON is, byte for byte, those fields' part of a ``ResultOut``'s."""
    declared = ResultOut.model_fields
    fields: dict[str, Any] = {
        name: (declared[name].annotation, declared[name]) for name in EVALUATED
    }
    return create_model("EvaluatedPart", __config__=ResultOut.model_config, **fields)


def render_evaluated(
    metrics_in_order: list[dict[str, Any]], verdict: Mapping[str, Any]
) -> dict[str, Any]:
    """An evaluation's part of a document (``"metrics":[...],...,"output_checks":...``) and the
    names of its failed checks, from the evaluation alone: what ``render`` gives for the same
    metrics (in the database's name order) and verdict, whatever the result's own fields."""
    evaluated = _evaluated_fields(metrics_in_order, verdict)
    failed = evaluated.pop("failed_checks")
    return {
        "evaluated": evaluated_json(evaluated) or _model_json(evaluated),
        "failed_checks": failed,
    }


def _model_json(evaluated: Mapping[str, Any]) -> str:
    """The evaluated fields validated into ``_evaluated_part`` and serialised: their exact
    part of a ``ResultOut``'s JSON."""
    part = _evaluated_part()(**evaluated)
    return part.__pydantic_serializer__.to_json(part)[1:-1].decode()


def _evaluated_fields(
    metrics_in_order: list[dict[str, Any]], verdict: Mapping[str, Any]
) -> dict[str, Any]:
    """``ResultOut``'s evaluated fields (``EVALUATED``) from metrics and a verdict's columns,
    and ``failed_checks``: the names of the metrics whose check failed."""
    return {
        "metrics": metrics_in_order,
        "passed": verdict["passed"],
        "score": verdict["score"],
        "reasons": verdict["reasons"] or [],
        "judgements": verdict["judgements"] or [],
        "output_checks": verdict["output_checks"],
        "failed_checks": sorted({m["name"] for m in metrics_in_order if m["passed"] is False}),
    }


SPLICE_TYPES = {
    "result_id": res.result_id.type,
    "evaluated": res.document.type,
    "failed_checks": res.failed_checks.type,
}


async def store_evaluated(session: AsyncSession, parts: Sequence[dict[str, Any]]) -> None:
    """Writes each result's new evaluated part (``render_evaluated``, plus ``result_id``) into
    its stored document in place, with ``ok`` and ``failed_checks``: one statement, no read of
    the results. The result's own fields and the run's currency are what the document already
    holds (an evaluation changes neither), so the spliced document is what ``render`` gives
    from the rows. A result not applied yet is skipped: ``render_new`` renders it whole."""
    if parts:
        await execute_batched(session, _splice, {"evaluated": (SPLICE_TYPES, parts)})


def _splice(evaluated: Subquery) -> Update:
    """``store_evaluated``'s statement, from its rows ``evaluated``."""
    document = res.document
    return (
        results.update()
        .where(
            res.result_id == evaluated.c.result_id,
            f.strpos(document, EVALUATED_AT) > 0,
            f.strpos(document, AFTER_EVALUATED) > 0,
        )
        .values(
            document=f.substr(document, 1, f.strpos(document, EVALUATED_AT))
            + evaluated.c.evaluated
            + f.substr(document, f.strpos(document, AFTER_EVALUATED)),
            # Unchanged values keep the update HOT (no index entry) where the page has room.
            ok=res.error.is_(None) & (f.cardinality(evaluated.c.failed_checks) == 0),
            failed_checks=evaluated.c.failed_checks,
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
