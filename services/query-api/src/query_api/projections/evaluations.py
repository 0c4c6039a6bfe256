"""Evaluation events -> ``metrics``, ``result_verdicts``, ``results.document``,
``run_evaluations`` and ``runs.evaluation_summary``.

Evaluation events travel on their own topic, so they may be applied before the run or result
they describe. Metrics are stored without a foreign key and joined on read; a run summary is
kept in ``run_evaluations`` and copied onto the run by whichever of RunCreated / RunEvaluated
comes last. A later evaluation of the same result or run (re-evaluation) replaces the earlier.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.events import ResultEvaluated, RunEvaluated
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.router import typed
from query_api.projections._util import any_of, unnest_rows
from query_api.projections.result_documents import refresh_results
from query_api.tables import metrics, result_verdicts, run_evaluations, runs


async def on_result_evaluated(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    # The last evaluation of a result in the batch wins; within it, the last metric of a name.
    latest: dict[UUID, dict[str, dict[str, Any]]] = {}
    verdicts: dict[UUID, dict[str, Any]] = {}
    for _, event in typed(events, ResultEvaluated):
        verdicts[event.result_id] = {
            "result_id": event.result_id,
            "passed": event.passed,
            "score": event.score,
            "reasons": [r.model_dump(mode="json") for r in event.reasons],
            "judgements": [j.model_dump(mode="json") for j in event.judgements],
            "output_checks": None
            if event.output_checks is None
            else event.output_checks.model_dump(mode="json"),
        }
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
    await session.execute(delete(metrics).where(any_of(metrics.c.result_id, list(latest))))
    rows = [row for by_name in latest.values() for row in by_name.values()]
    if rows:
        names, source = unnest_rows(metrics, rows)
        await session.execute(metrics.insert().from_select(names, source))
    if verdicts:
        statement = pg_insert(result_verdicts)
        excluded = statement.excluded
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[result_verdicts.c.result_id],
                set_={
                    "passed": excluded.passed,
                    "score": excluded.score,
                    "reasons": excluded.reasons,
                    "judgements": excluded.judgements,
                    "output_checks": excluded.output_checks,
                },
            ),
            list(verdicts.values()),
        )
    # Results not applied yet get theirs rendered when ResultRecorded arrives.
    await refresh_results(session, list(latest))


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


async def copy_evaluation_summaries(session: AsyncSession, run_ids: list[UUID]) -> None:
    """Copies the stored summaries of these runs onto the runs that exist (one statement)."""
    if not run_ids:
        return
    await session.execute(
        update(runs)
        .where(runs.c.run_id == run_evaluations.c.run_id, runs.c.run_id.in_(run_ids))
        .values(evaluation_summary=run_evaluations.c.summary)
    )
