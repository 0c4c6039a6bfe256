"""``EvaluationRepository`` on PostgreSQL, bound to one session (the consumer batch's): every
call is ONE statement for the whole batch. The queue's part is ``postgres_queue``."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from decimal import Decimal
from functools import cache
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Table, bindparam, delete, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from evaluator.adapters.postgres_queue import PostgresQueue
from evaluator.adapters.tables import (
    evaluations,
    kept_judgements,
    recorded_results,
    result_outcomes,
    run_metric_stats,
    runs,
)
from evaluator.domain.run_statistics import ResultOutcome
from evaluator.domain.stats import MetricStats, RunStats
from evaluator.handlers.ports import (
    EvaluationState,
    NewRun,
    RunSpec,
    RunState,
)
from promptworks_contracts.values import RECORDED, Assertion, Money
from promptworks_eventkit.messages import MessageContext

# A claim's statistics, outcomes and run states in ONE statement of arrays (as
# ``postgres_queue._QUEUE``): three writes, one round trip (each sub-statement a different
# table; the runs' rows are locked by the claim already). A part with empty arrays writes nothing.
_EVALUATED = text(
    """
    WITH stats AS (
        INSERT INTO run_metric_stats AS s
            (run_id, name, count, sum, sum_squares, min, max, passed, failed)
        SELECT * FROM unnest(
            CAST(:stat_run_ids AS text[]), CAST(:stat_names AS text[]),
            CAST(:stat_counts AS bigint[]), CAST(:stat_sums AS double precision[]),
            CAST(:stat_squares AS double precision[]), CAST(:stat_mins AS double precision[]),
            CAST(:stat_maxes AS double precision[]), CAST(:stat_passed AS bigint[]),
            CAST(:stat_failed AS bigint[])
        )
        ON CONFLICT (run_id, name) DO UPDATE SET
            count = s.count + excluded.count,
            sum = s.sum + excluded.sum,
            sum_squares = s.sum_squares + excluded.sum_squares,
            -- LEAST/GREATEST ignore NULLs: a side without values leaves the other's bound.
            min = least(s.min, excluded.min),
            max = greatest(s.max, excluded.max),
            passed = s.passed + excluded.passed,
            failed = s.failed + excluded.failed
    ), outcomes AS (
        INSERT INTO result_outcomes (run_id, result_id, case_index, repetition, passed,
            latency_ms, digest, cost_amount, cost_currency, judge_cost_amount,
            judge_cost_currency, judge_prompt_tokens, judge_completion_tokens)
        SELECT * FROM unnest(
            CAST(:run_ids AS text[]), CAST(:result_ids AS text[]),
            CAST(:case_indexes AS integer[]), CAST(:repetitions AS integer[]),
            CAST(:passed AS boolean[]), CAST(:latencies AS double precision[]),
            CAST(:digests AS text[]), CAST(:cost_amounts AS numeric[]),
            CAST(:cost_currencies AS text[]), CAST(:judge_cost_amounts AS numeric[]),
            CAST(:judge_cost_currencies AS text[]), CAST(:judge_prompt_tokens AS integer[]),
            CAST(:judge_completion_tokens AS integer[])
        )
        ON CONFLICT DO NOTHING
    ), states AS (
        UPDATE runs SET evaluated = g.evaluated, stream_version = g.stream_version,
            status = g.status, ending = g.ending, end_context = CAST(g.end_context AS jsonb)
        FROM unnest(
            CAST(:state_run_ids AS text[]), CAST(:state_evaluated AS integer[]),
            CAST(:state_versions AS integer[]), CAST(:state_statuses AS text[]),
            CAST(:state_endings AS text[]), CAST(:state_contexts AS text[])
        ) AS g(run_id, evaluated, stream_version, status, ending, end_context)
        WHERE runs.run_id = g.run_id
    )
    SELECT 1
    """
)

# Candidates only: the sweep locks them again with ``load_states``, which reads the counts after
# the locks (see there), and summarises those that are complete.
_FINISHED_RUNS = text(
    """
    SELECT run_id FROM runs LEFT JOIN recorded_results USING (run_id)
    WHERE ending IS NOT NULL AND status = 'running'
        AND evaluated >= runs.recorded + coalesce(recorded_results.recorded, 0)
    ORDER BY run_id LIMIT :limit FOR UPDATE OF runs SKIP LOCKED
    """
)


# Queued re-evaluations with nothing left to evaluate (``ix_evaluations_queued``); not locked
# here: the sweep locks their runs first, then them.
_FINISHED_EVALUATIONS = text(
    """
    SELECT run_id, evaluation_id FROM evaluations
    WHERE status = 'queued' AND evaluated + failed >= queued
    ORDER BY run_id, evaluation_id LIMIT :limit
    """
)

# Rows of a summary's outcomes fetched at a time (``load_outcomes``).
OUTCOMES_CHUNK = 5_000


def context_json(context: MessageContext | None) -> dict[str, Any] | None:
    if context is None:
        return None
    return {
        "correlation_id": context.correlation_id,
        "causation_id": context.causation_id,
        "traceparent": context.traceparent,
        "project": context.project,
    }


def _context(stored: dict[str, Any] | None) -> MessageContext | None:
    return None if stored is None else MessageContext(**stored)


@cache
def _assertions() -> TypeAdapter[list[Assertion]]:
    return TypeAdapter(list[Assertion])


def _specs(rows: Iterable[Any]) -> dict[str, RunSpec]:
    """Specs by key from rows of (key, assertions, cases, expected, project): definitions
    were valid when recorded, so they are read as recorded facts."""
    return {
        key: RunSpec(
            _assertions().validate_python(assertions, context=RECORDED), cases, expected, project
        )
        for key, assertions, cases, expected, project in rows
    }


class PostgresEvaluationRepository(PostgresQueue):
    """Runs, their statistics and outcomes, and re-evaluations; the queue's methods are
    ``PostgresQueue``'s."""

    def __init__(self, session: AsyncSession, context: MessageContext | None = None) -> None:
        # The context (the write port passes it) is not needed: evaluations follow their runs.
        self._session = session

    async def insert_runs(self, new_runs: Sequence[NewRun]) -> None:
        if not new_runs:
            return
        rows = [
            {
                "run_id": run.run_id,
                "assertions": [a.model_dump(mode="json") for a in run.spec.assertions],
                "cases": run.spec.cases,
                "expected": run.spec.expected,
                "project_id": run.spec.project,
                "subject": run.subject,
                "total_calls": run.total_calls,
            }
            for run in new_runs
        ]
        await self._session.execute(pg_insert(runs).on_conflict_do_nothing(), rows)

    async def load_states(
        self, run_ids: Collection[str], *, lock: bool = False
    ) -> dict[str, RunState]:
        c = runs.c
        query = (
            select(
                c.run_id,
                c.total_calls,
                c.evaluated,
                c.stream_version,
                c.status,
                c.recorded,
                c.ending,
                c.end_context,
            )
            .where(c.run_id.in_(sorted(run_ids)))
            .order_by(c.run_id)  # one lock order for every replica: no deadlock
        )
        rows = (await self._session.execute(query.with_for_update() if lock else query)).all()
        recorded = await self._recorded([row.run_id for row in rows]) if rows else {}
        return {
            row.run_id: RunState(
                row.run_id,
                row.total_calls,
                row.evaluated,
                row.stream_version,
                row.status,
                row.recorded + recorded.get(row.run_id, 0),
                row.ending,
                _context(row.end_context),
            )
            for row in rows
        }

    async def _recorded(self, run_ids: list[str]) -> dict[str, int]:
        """The runs' counts of queued results (``recorded_results``). A statement of its own,
        started once ``load_states``' locks are granted: a FOR UPDATE that waited re-reads the
        locked rows only, so a count joined to it could predate the run's end and summarise the
        run before its last results were evaluated."""
        r = recorded_results.c
        counts = select(r.run_id, r.recorded).where(r.run_id.in_(run_ids))
        return {run_id: recorded for run_id, recorded in await self._session.execute(counts)}

    async def load_specs(self, run_ids: Collection[str]) -> dict[str, RunSpec]:
        c = runs.c
        rows = await self._session.execute(
            select(c.run_id, c.assertions, c.cases, c.expected, c.project_id).where(
                c.run_id.in_(sorted(run_ids))
            )
        )
        return _specs(rows)

    async def save_states(self, states: Iterable[RunState]) -> None:
        await self._save(states, {}, ())

    async def _update_each(self, table: Table, key: str, rows: list[dict[str, Any]]) -> None:
        """One UPDATE of ``table`` per row (an executemany), found by ``key``."""
        if not rows:
            return
        values = {
            name: bindparam(f"b_{name}", type_=table.c[name].type)
            for name in rows[0]
            if name != key
        }
        await self._session.execute(
            update(table).where(table.c[key] == bindparam(f"b_{key}")).values(values),
            [{f"b_{name}": value for name, value in row.items()} for row in rows],
        )

    async def save_evaluated(
        self,
        states: Iterable[RunState],
        deltas: Mapping[str, RunStats],
        outcomes: Sequence[ResultOutcome],
    ) -> None:
        await self._save(states, deltas, outcomes)

    async def _save(
        self,
        states: Iterable[RunState],
        deltas: Mapping[str, RunStats],
        outcomes: Sequence[ResultOutcome],
    ) -> None:
        """``_EVALUATED``: any of the three writes, in one round trip."""
        stats = [
            (run_id, name, value)
            for run_id, by_name in deltas.items()
            for name, value in by_name.items()
        ]
        saved = list(states)
        if not (stats or outcomes or saved):
            return
        costs = [o.cost for o in outcomes]
        judge_costs = [o.judge_cost for o in outcomes]
        await self._session.execute(
            _EVALUATED,
            {
                "stat_run_ids": [run_id for run_id, _, _ in stats],
                "stat_names": [name for _, name, _ in stats],
                "stat_counts": [v.count for _, _, v in stats],
                "stat_sums": [v.sum for _, _, v in stats],
                "stat_squares": [v.sum_squares for _, _, v in stats],
                "stat_mins": [v.min for _, _, v in stats],
                "stat_maxes": [v.max for _, _, v in stats],
                "stat_passed": [v.passed for _, _, v in stats],
                "stat_failed": [v.failed for _, _, v in stats],
                "run_ids": [o.run_id for o in outcomes],
                "result_ids": [o.result_id for o in outcomes],
                "case_indexes": [o.case_index for o in outcomes],
                "repetitions": [o.repetition for o in outcomes],
                "passed": [o.passed for o in outcomes],
                "latencies": [o.latency_ms for o in outcomes],
                "digests": [o.digest for o in outcomes],
                "cost_amounts": [None if c is None else c.amount for c in costs],
                "cost_currencies": [None if c is None else c.currency for c in costs],
                "judge_cost_amounts": [None if c is None else c.amount for c in judge_costs],
                "judge_cost_currencies": [None if c is None else c.currency for c in judge_costs],
                "judge_prompt_tokens": [o.judge_prompt_tokens for o in outcomes],
                "judge_completion_tokens": [o.judge_completion_tokens for o in outcomes],
                "state_run_ids": [s.run_id for s in saved],
                "state_evaluated": [s.evaluated for s in saved],
                "state_versions": [s.stream_version for s in saved],
                "state_statuses": [s.status for s in saved],
                "state_endings": [s.ending for s in saved],
                # JSON ``null`` for no context, as SQLAlchemy's JSONB stored None.
                "state_contexts": [json.dumps(context_json(s.end_context)) for s in saved],
            },
        )

    async def load_stats(self, run_ids: Collection[str]) -> dict[str, RunStats]:
        c = run_metric_stats.c
        rows = await self._session.execute(
            select(
                c.run_id, c.name, c.count, c.sum, c.min, c.max, c.passed, c.failed, c.sum_squares
            ).where(c.run_id.in_(sorted(run_ids)))
        )
        stats: dict[str, RunStats] = {}
        for run_id, name, *values in rows:
            stats.setdefault(run_id, {})[name] = MetricStats(*values)
        return stats

    async def load_outcomes(self, run_ids: Collection[str]) -> dict[str, list[ResultOutcome]]:
        """Streamed in chunks: a 100,000-result run's rows are never all held at once beside
        its outcomes (the summary's peak memory). Equal costs are one ``Money``, a run's id one
        string: most results of a run share both."""
        c = result_outcomes.c
        query = select(
            c.run_id,
            c.result_id,
            c.case_index,
            c.repetition,
            c.passed,
            c.latency_ms,
            c.digest,
            c.cost_amount,
            c.cost_currency,
            c.judge_cost_amount,
            c.judge_cost_currency,
            c.judge_prompt_tokens,
            c.judge_completion_tokens,
        ).where(c.run_id.in_(sorted(run_ids)))
        outcomes: dict[str, list[ResultOutcome]] = {}
        money: dict[tuple[Decimal, str], Money] = {}

        def cost(amount: Decimal | None, currency: str | None) -> Money | None:
            if amount is None or currency is None:
                return None
            found = money.get((amount, currency))
            if found is None:
                found = money[(amount, currency)] = Money(amount=amount, currency=currency)
            return found

        result = await self._session.stream(query.execution_options(yield_per=OUTCOMES_CHUNK))
        async for rows in result.partitions():
            for (
                run_id,
                result_id,
                case_index,
                repetition,
                passed,
                latency,
                digest,
                amount,
                currency,
                judge_amount,
                judge_currency,
                judge_prompt,
                judge_completion,
            ) in rows:
                run = outcomes.setdefault(run_id, [])
                run.append(
                    ResultOutcome(
                        run_id=run[0].run_id if run else run_id,
                        result_id=result_id,
                        case_index=case_index,
                        repetition=repetition,
                        passed=passed,
                        latency_ms=latency,
                        digest=digest,
                        cost=cost(amount, currency),
                        judge_cost=cost(judge_amount, judge_currency),
                        judge_prompt_tokens=judge_prompt,
                        judge_completion_tokens=judge_completion,
                    )
                )
        return outcomes

    async def load_evaluations(self, evaluation_ids: Collection[str]) -> dict[str, EvaluationState]:
        if not evaluation_ids:
            return {}
        c = evaluations.c
        rows = await self._session.execute(
            select(
                c.evaluation_id,
                c.run_id,
                c.status,
                c.queued,
                c.evaluated,
                c.failed,
                c.request_context,
                runs.c.project_id,
            )
            .join_from(evaluations, runs, c.run_id == runs.c.run_id)
            .where(c.evaluation_id.in_(sorted(evaluation_ids)))
            .order_by(c.evaluation_id)
            .with_for_update(of=evaluations)
        )
        return {
            row.evaluation_id: EvaluationState(
                *row[:6],
                # Requested before contexts were kept: a context of its own, the run's project.
                _context(row.request_context) or MessageContext(project=row.project_id),
            )
            for row in rows
        }

    async def save_evaluations(self, states: Iterable[EvaluationState]) -> None:
        rows = [
            {
                "evaluation_id": s.evaluation_id,
                "status": s.status,
                "evaluated": s.evaluated,
                "failed": s.failed,
            }
            for s in states
        ]
        await self._update_each(evaluations, "evaluation_id", rows)

    async def load_evaluation_specs(self, evaluation_ids: Collection[str]) -> dict[str, RunSpec]:
        e, r = evaluations.c, runs.c
        rows = await self._session.execute(
            select(e.evaluation_id, e.assertions, r.cases, r.expected, r.project_id)
            .join_from(evaluations, runs, e.run_id == r.run_id)
            .where(e.evaluation_id.in_(sorted(evaluation_ids)))
        )
        return _specs(rows)

    async def finished_evaluations(self, limit: int) -> list[tuple[str, str]]:
        rows = await self._session.execute(_FINISHED_EVALUATIONS, {"limit": limit})
        return [(run_id, evaluation_id) for run_id, evaluation_id in rows]

    async def finished_runs(self, limit: int) -> list[str]:
        rows = await self._session.execute(_FINISHED_RUNS, {"limit": limit})
        return [run_id for (run_id,) in rows]

    async def forget_judgements(self, keys: Sequence[str]) -> None:
        if keys:
            await self._session.execute(
                delete(kept_judgements).where(kept_judgements.c.key.in_(list(keys)))
            )
