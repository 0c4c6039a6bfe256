"""Run events -> ``runs`` and ``results``.

Per run, run events arrive in stream order (created, started, results, completed|failed), so
counters can be incremented. Results are inserted with ON CONFLICT DO NOTHING and the counters
grow only by the rows actually inserted, so a replayed result is never counted twice. A
terminal status is never overwritten by RunStarted. Evaluation events never touch ``status``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import Subquery, bindparam, case, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import (
    ResultRecorded,
    RunCancelled,
    RunCompleted,
    RunCreated,
    RunFailed,
)
from promptworks_contracts.values import Money
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.router import typed
from query_api.prepared import constant
from query_api.projections._util import column_types, columns_of, update_many
from query_api.projections.batched import execute_batched
from query_api.projections.counts import add_runs as count_runs
from query_api.projections.evaluations import copy_evaluation_summaries
from query_api.projections.result_documents import refresh_runs, render_new
from query_api.projections.result_positions import number
from query_api.tables import FINISHED_STATUSES, results, runs
from query_api.tables.runs import MONEY

r = runs.c


async def on_run_created(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    pairs = typed(events, RunCreated)
    rows: list[dict[str, Any]] = [
        {
            "run_id": event.run_id,
            "project_id": event.project_id,
            "prompt_id": event.prompt_id,
            "prompt_version_id": event.prompt_version_id,
            "prompt_version_number": event.prompt_version_number,
            "provider": event.model.provider,
            "model_name": event.model.name,
            "model_version": event.model.version,
            "parameters": event.parameters.model_dump(mode="json"),
            "repetitions": event.repetitions,
            "case_count": max(len(event.cases), 1),
            "assertions": [a.model_dump(mode="json") for a in event.assertions],
            "notes": event.notes,
            "metadata": event.metadata,
            "batch_id": event.batch_id,
            "total_calls": event.total_calls,
            "recorded": 0,
            "succeeded": 0,
            "failed": 0,
            "status": "queued",
            "failure_reason": None,
            "label": event.label,
            "currency": event.pricing.currency if event.pricing else None,
            "cost": Decimal(0) if event.pricing else None,
            "estimated_cost": _amount(event.estimated_cost),
            "budget": _amount(event.budget),
            "cancelled_by": None,
            "retry_of": event.retry_of,
            "evaluator_id": event.evaluator.evaluator_id if event.evaluator else None,
            "evaluator_version": event.evaluator.version if event.evaluator else None,
            "created_at": received.envelope.time,
            "started_at": None,
            "finished_at": None,
            "evaluation_summary": None,
            "stream_version": received.envelope.streamversion,
        }
        for received, event in pairs
    ]
    inserted = await session.execute(
        pg_insert(runs).on_conflict_do_nothing().returning(runs.c.run_id, runs.c.project_id),
        rows,
    )
    # Only runs new to the model count (a redelivered RunCreated inserts nothing).
    partition_of = {event.run_id: received.partition for received, event in pairs}
    await count_runs(
        session, Counter((partition_of[run_id], project) for run_id, project in inserted)
    )
    # The evaluator may have been applied first (another topic): pick up its summary now.
    await copy_evaluation_summaries(session, [event.run_id for _, event in pairs])
    # Results never precede their run on its stream, but a document shows the run's currency:
    # render any that exist (normally none; one index probe per run).
    await refresh_runs(session, [event.run_id for _, event in pairs])


async def on_run_started(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    statement = (
        update(runs)
        .where(r.run_id == bindparam("b_run_id"))
        .values(
            # Not IN (...): its expanding parameter cannot go into an executemany.
            status=case(
                (or_(*(r.status == s for s in FINISHED_STATUSES)), r.status), else_="running"
            ),
            started_at=func.coalesce(r.started_at, bindparam("b_time")),
            stream_version=func.greatest(r.stream_version, bindparam("b_stream_version")),
        )
    )
    await update_many(session, statement, _latest_per_run(events, {}))


async def on_result_recorded(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    pairs = typed(events, ResultRecorded)
    rows = [
        {
            "result_id": event.result_id,
            "run_id": event.run_id,
            "case_index": event.case_index,
            "repetition": event.repetition,
            "output": event.output,
            "latency_ms": event.latency_ms,
            "prompt_tokens": event.usage.prompt_tokens,
            "completion_tokens": event.usage.completion_tokens,
            "total_tokens": event.usage.total_tokens,
            "finish_reason": event.finish_reason,
            "error": event.error,
            "created_at": received.envelope.time,
            "cost": _amount(event.cost),
            "cached": event.cached,
        }
        for received, event in pairs
    ]
    await render_new(session, rows)
    streams = [{k: row[k] for k in STREAM_TYPES} for row in _latest_per_run(events, {})]
    counted = await execute_batched(
        session,
        _insert_and_count,
        {
            "batch": (column_types(results, rows), rows),
            "streams": (STREAM_TYPES, streams),
        },
    )
    # Normally none: results precede their run's terminal event on its stream.
    await number(session, [run_id for run_id, late in counted if late])


STREAM_TYPES = {"b_run_id": r.run_id.type, "b_stream_version": r.stream_version.type}


def _insert_and_count(batch: Subquery, streams: Subquery) -> Any:
    """One statement: the results of ``batch`` inserted (a replayed one is skipped), each run's
    counters grown by the rows actually inserted and its stream version moved (``streams``);
    it answers the runs that are already finished and got results (to be numbered again)."""
    inserted = (
        pg_insert(results)
        .from_select(*columns_of(batch))
        .on_conflict_do_nothing()
        .returning(results.c.run_id, results.c.error.is_(None).label("ok"), results.c.cost)
        .cte("inserted")
    )
    i = inserted.c
    tally = (
        select(
            i.run_id,
            func.count().filter(i.ok).label("succeeded"),
            func.count().filter(~i.ok).label("failed"),
            func.sum(i.cost).label("cost"),
        )
        .group_by(i.run_id)
        .subquery("tally")
    )
    changes = (
        select(
            streams.c.b_run_id.label("run_id"),
            streams.c.b_stream_version.label("stream_version"),
            func.coalesce(tally.c.succeeded, 0).label("succeeded"),
            func.coalesce(tally.c.failed, 0).label("failed"),
            tally.c.cost,
        )
        .select_from(streams.outerjoin(tally, tally.c.run_id == streams.c.b_run_id))
        .subquery("changes")
    )
    c = changes.c
    return (
        update(runs)
        .where(r.run_id == c.run_id)
        .values(
            recorded=r.recorded + c.succeeded + c.failed,
            succeeded=r.succeeded + c.succeeded,
            failed=r.failed + c.failed,
            # Unknown stays unknown: a run without a price keeps a null cost.
            cost=r.cost + func.coalesce(c.cost, 0),
            stream_version=func.greatest(r.stream_version, c.stream_version),
        )
        .returning(
            r.run_id,
            # Constants, not an expanding IN: the statement is compiled once (``batched``).
            (
                r.status.in_([constant(s) for s in FINISHED_STATUSES])
                & (c.succeeded + c.failed > 0)
            ).label("late"),
        )
        .add_cte(inserted)
    )


async def on_run_completed(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    extra = {
        e.run_id: {
            "b_status": e.status,
            "b_succeeded": e.succeeded,
            "b_failed": e.failed,
            "b_cost": _amount(e.cost),
        }
        for _, e in typed(events, RunCompleted)
    }
    statement = (
        update(runs)
        .where(r.run_id == bindparam("b_run_id"))
        .values(
            status=bindparam("b_status"),
            succeeded=bindparam("b_succeeded"),
            failed=bindparam("b_failed"),
            cost=bindparam("b_cost", type_=MONEY),
            finished_at=bindparam("b_time"),
            stream_version=func.greatest(r.stream_version, bindparam("b_stream_version")),
        )
    )
    await update_many(session, statement, _latest_per_run(events, extra))
    await number(session, _run_ids(events))


async def on_run_cancelled(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    extra = {
        e.run_id: {
            "b_reason": e.reason,
            "b_by": e.cancelled_by,
            "b_succeeded": e.succeeded,
            "b_failed": e.failed,
            "b_cost": _amount(e.cost),
        }
        for _, e in typed(events, RunCancelled)
    }
    statement = (
        update(runs)
        .where(r.run_id == bindparam("b_run_id"))
        .values(
            status="cancelled",
            failure_reason=bindparam("b_reason"),
            cancelled_by=bindparam("b_by"),
            succeeded=bindparam("b_succeeded"),
            failed=bindparam("b_failed"),
            cost=bindparam("b_cost", type_=MONEY),
            finished_at=bindparam("b_time"),
            stream_version=func.greatest(r.stream_version, bindparam("b_stream_version")),
        )
    )
    await update_many(session, statement, _latest_per_run(events, extra))
    await number(session, _run_ids(events))


async def on_run_failed(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    extra = {e.run_id: {"b_reason": e.reason} for _, e in typed(events, RunFailed)}
    statement = (
        update(runs)
        .where(r.run_id == bindparam("b_run_id"))
        .values(
            status="failed",
            failure_reason=bindparam("b_reason"),
            finished_at=func.coalesce(r.finished_at, bindparam("b_time")),
            stream_version=func.greatest(r.stream_version, bindparam("b_stream_version")),
        )
    )
    await update_many(session, statement, _latest_per_run(events, extra))
    await number(session, _run_ids(events))


def _run_ids(events: Sequence[ReceivedEvent]) -> list[UUID]:
    return list({UUID(received.event.stream_id()): None for received in events})


def _latest_per_run(
    events: Sequence[ReceivedEvent], extra: dict[UUID, dict[str, Any]]
) -> list[dict[str, Any]]:
    """One parameter set per run: the last event's time and stream version (+ ``extra``)."""
    latest: dict[str, dict[str, Any]] = {}
    for received in events:
        stream = received.event.stream_id()
        seen = latest.get(stream)  # a run's results come together: its id parsed once
        run_id: UUID = UUID(stream) if seen is None else seen["b_run_id"]
        latest[stream] = {
            "b_run_id": run_id,
            "b_time": received.envelope.time,
            "b_stream_version": received.envelope.streamversion,
            **extra.get(run_id, {}),
        }
    return list(latest.values())


def _amount(money: Money | None) -> Decimal | None:
    return None if money is None else money.amount
