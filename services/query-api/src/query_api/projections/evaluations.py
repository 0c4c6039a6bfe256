"""Evaluation events -> ``metrics``, ``result_verdicts``, ``results.document``,
``run_evaluations`` and ``runs.evaluation_summary``.

Evaluation events travel on their own topic, so they may be applied before the run or result
they describe. Metrics are stored without a foreign key and joined on read; a run summary is
kept in ``run_evaluations`` and copied onto the run by whichever of RunCreated / RunEvaluated
comes last.

A run's first evaluation (``evaluation_id`` null) fills ``metrics`` and ``result_verdicts``
(and the stored result documents); a re-evaluation's results go to ``evaluation_metrics`` /
``evaluation_verdicts`` under its id, so every evaluation stays readable. Every evaluation is
listed in ``evaluations`` (the first under the run's id). The run's summary
(``run_evaluations``, ``runs.evaluation_summary``) is the latest evaluation's: the run's
evaluation stream is applied in order, so the last one wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy import Select, Subquery, Text, delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import EvaluationRequested, ResultEvaluated, RunEvaluated
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.router import typed
from query_api.projections._util import any_in, any_of, columns_of, unnest_rows
from query_api.projections.batched import RowSources, execute_batched
from query_api.projections.result_documents import render_evaluated, store_evaluated
from query_api.tables import (
    evaluation_metrics,
    evaluation_verdicts,
    evaluations,
    metrics,
    result_verdicts,
    run_evaluations,
    runs,
)


def _verdict(event: ResultEvaluated) -> dict[str, Any]:
    return {
        "result_id": event.result_id,
        "passed": event.passed,
        "score": event.score,
        "reasons": [r.model_dump(mode="json") for r in event.reasons],
        "judgements": [j.model_dump(mode="json") for j in event.judgements],
        "output_checks": None
        if event.output_checks is None
        else event.output_checks.model_dump(mode="json"),
    }


JSON_COLUMNS = ("reasons", "judgements", "output_checks")
METRIC_TYPES = {c.name: c.type for c in metrics.c}
VERDICT_TYPES = {
    name: result_verdicts.c[name].type for name in ("result_id", "passed", "score", *JSON_COLUMNS)
}
"""The columns of ``_verdict``'s rows."""


def _as_text(verdict: dict[str, Any]) -> dict[str, Any]:
    """A verdict row with its JSON columns serialised (None stays NULL)."""
    return {
        **verdict,
        **{
            name: None if verdict[name] is None else orjson.dumps(verdict[name]).decode()
            for name in JSON_COLUMNS
        },
    }


async def on_result_evaluated(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    await _result_evaluated(session, events, splice=True)


async def on_result_evaluated_before_results(
    session: AsyncSession, events: Sequence[ReceivedEvent]
) -> None:
    """The rebuild's, while no result of these runs is stored yet (it replays the run topic
    after this one): the metrics and verdicts written, no document spliced (the splice would
    match no row); each result's ``render_new`` renders it whole from them."""
    await _result_evaluated(session, events, splice=False)


async def _result_evaluated(
    session: AsyncSession, events: Sequence[ReceivedEvent], *, splice: bool
) -> None:
    evaluated = typed(events, ResultEvaluated)
    first = [e for _, e in evaluated if e.evaluation_id is None]
    again = [e for _, e in evaluated if e.evaluation_id is not None]
    if first:
        await _first_evaluations(session, first, splice=splice)
    if again:
        await _reevaluations(session, again)


async def _reevaluations(session: AsyncSession, events: Sequence[ResultEvaluated]) -> None:
    """A re-evaluation's results under its id (applied again: the same rows)."""
    verdicts: dict[tuple[UUID, UUID], dict[str, Any]] = {}
    by_name: dict[tuple[UUID, UUID, str], dict[str, Any]] = {}
    for event in events:
        assert event.evaluation_id is not None
        key = (event.evaluation_id, event.result_id)
        verdicts[key] = {"evaluation_id": event.evaluation_id, **_verdict(event)}
        for m in event.metrics:
            by_name[(*key, m.name)] = {
                "evaluation_id": event.evaluation_id,
                "result_id": event.result_id,
                "name": m.name,
                "value": m.value,
                "passed": m.passed,
                "detail": m.detail,
            }
    if by_name:
        statement = pg_insert(evaluation_metrics)
        await session.execute(statement.on_conflict_do_nothing(), list(by_name.values()))
    statement = pg_insert(evaluation_verdicts)
    await session.execute(statement.on_conflict_do_nothing(), list(verdicts.values()))


async def _first_evaluations(
    session: AsyncSession, evaluated: Sequence[ResultEvaluated], *, splice: bool
) -> None:
    """Two statements for the batch: the metrics and verdicts written (and the metric names
    read in the database's order), then (``splice``) each result's document spliced in place;
    two more when a result of the batch had metrics already (evaluated again: rare)."""
    # The last evaluation of a result in the batch wins; within it, the last metric of a name.
    latest: dict[UUID, dict[str, dict[str, Any]]] = {}
    verdicts: dict[UUID, dict[str, Any]] = {}
    for event in evaluated:
        verdicts[event.result_id] = _verdict(event)
        latest[event.result_id] = {
            m.name: {
                "result_id": event.result_id,
                "name": m.name,
                "value": m.value,
                "passed": m.passed,
                "detail": m.detail,
            }
            for m in event.metrics
        }
    rows = [row for by_name in latest.values() for row in by_name.values()]
    verdict_rows = [_as_text(v) for v in verdicts.values()]
    sources: RowSources = {"batch": (VERDICT_TYPES, verdict_rows)}
    if rows:
        sources = {**sources, "given": (METRIC_TYPES, rows)}
    [(order, had)] = await execute_batched(
        session, _write_evaluations, sources, {"result_ids": list(latest)}
    )
    if had:
        await _replace_metrics(session, had, rows)
    if not splice:
        return
    rank = {name: place for place, name in enumerate(order or ())}
    # Results not applied yet get theirs rendered when ResultRecorded arrives.
    await store_evaluated(
        session,
        [
            {
                "result_id": result_id,
                **render_evaluated(
                    [
                        {k: v for k, v in metric.items() if k != "result_id"}
                        for metric in sorted(by_name.values(), key=lambda m: rank[m["name"]])
                    ],
                    verdicts[result_id],
                ),
            }
            for result_id, by_name in latest.items()
        ],
    )


def _write_evaluations(batch: Subquery, given: Subquery | None = None) -> Select[Any]:
    """One statement: the metrics (``given``) of the results that have none yet inserted (a
    plain insert, the usual case: no conflict to check row by row), every verdict
    (``batch``) inserted or updated. It answers the batch's metric names in the order the
    database sorts them (``ORDER BY name``, the order ``result_documents.metrics_json``
    renders them in) and the results (of ``result_ids``) that had metrics already (all of its
    parts see the database as it was before the statement)."""
    m = metrics.c
    had = select(m.result_id).where(any_in(m.result_id, "result_ids")).distinct().cte("had")
    statement = pg_insert(result_verdicts).from_select(*columns_of(batch))
    excluded = statement.excluded
    ctes: list[Any] = [
        statement.on_conflict_do_update(
            index_elements=[result_verdicts.c.result_id],
            set_={
                "passed": excluded.passed,
                "score": excluded.score,
                "reasons": excluded.reasons,
                "judgements": excluded.judgements,
                "output_checks": excluded.output_checks,
            },
        )
        .returning(result_verdicts.c.result_id)
        .cte("verdicts")
    ]
    order: Any = literal(None, ARRAY(Text))
    if given is not None:
        rows = select(given).cte("given")
        fresh = select(rows).where(rows.c.result_id.not_in(select(had.c.result_id)))
        ctes.append(
            metrics.insert()
            .from_select(list(METRIC_TYPES), fresh)
            .returning(m.result_id)
            .cte("inserted")
        )
        distinct = select(rows.c.name).distinct().subquery("names")
        order = select(
            func.array_agg(aggregate_order_by(distinct.c.name, distinct.c.name))
        ).scalar_subquery()
    return select(order, select(func.array_agg(had.c.result_id)).scalar_subquery()).add_cte(*ctes)


async def _replace_metrics(
    session: AsyncSession, result_ids: list[UUID], rows: list[dict[str, Any]]
) -> None:
    """Results evaluated again: their metrics replaced by ``rows``' (last wins)."""
    await session.execute(delete(metrics).where(any_of(metrics.c.result_id, result_ids)))
    again = set(result_ids)
    replaced = [row for row in rows if row["result_id"] in again]
    if replaced:
        names, source = unnest_rows(metrics, replaced)
        await session.execute(metrics.insert().from_select(names, source))


async def on_run_evaluated(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    latest: dict[UUID, dict[str, Any]] = {}
    for received, event in typed(events, RunEvaluated):
        latest[event.run_id] = {
            "run_id": event.run_id,
            # The whole summary (pass rate and its interval, latency, tokens, cost, cases,
            # judge cost): the verdict a client or a CI gate reads without recomputing it.
            "summary": {
                **event.model_dump(mode="json", exclude={"run_id"}),
                "evaluated_at": received.envelope.time.isoformat(),
            },
        }
    statement = pg_insert(run_evaluations)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[run_evaluations.c.run_id],
            set_={"summary": statement.excluded.summary},
        ),
        list(latest.values()),
    )
    await copy_evaluation_summaries(session, list(latest))
    await _evaluations_done(session, events)


async def _evaluations_done(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    """Each evaluation's row with its summary (the first one's row is made here)."""
    rows: dict[UUID, dict[str, Any]] = {}
    for received, event in typed(events, RunEvaluated):
        evaluation_id = event.evaluation_id or event.run_id
        rows[evaluation_id] = {
            "evaluation_id": evaluation_id,
            "run_id": event.run_id,
            "status": "evaluated",
            "evaluated_at": received.envelope.time,
            "summary": {
                **event.model_dump(mode="json", exclude={"run_id"}),
                "evaluated_at": received.envelope.time.isoformat(),
            },
            "stream_version": received.envelope.streamversion,
        }
    statement = pg_insert(evaluations)
    new = statement.excluded
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[evaluations.c.evaluation_id],
            # A re-evaluation's row keeps its request's position; the first's is its summary's.
            set_={"status": new.status, "evaluated_at": new.evaluated_at, "summary": new.summary},
        ),
        list(rows.values()),
    )


async def on_evaluation_requested(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    rows = [
        {
            "evaluation_id": event.evaluation_id,
            "run_id": event.run_id,
            "evaluator_id": event.evaluator.evaluator_id,
            "evaluator_version": event.evaluator.version,
            "status": "requested",
            "requested_by": event.actor,
            "requested_at": received.envelope.time,
            "stream_version": received.envelope.streamversion,
        }
        for received, event in typed(events, EvaluationRequested)
    ]
    await session.execute(pg_insert(evaluations).on_conflict_do_nothing(), rows)


async def copy_evaluation_summaries(session: AsyncSession, run_ids: list[UUID]) -> None:
    """Copies the stored summaries of these runs onto the runs that exist (one statement)."""
    if not run_ids:
        return
    await session.execute(
        update(runs)
        .where(runs.c.run_id == run_evaluations.c.run_id, runs.c.run_id.in_(run_ids))
        .values(evaluation_summary=run_evaluations.c.summary)
    )
