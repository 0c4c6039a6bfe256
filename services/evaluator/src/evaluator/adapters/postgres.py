"""``EvaluationRepository`` on PostgreSQL, bound to one session (the consumer batch's): every
call is ONE statement for the whole batch."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any
from uuid import UUID

from pydantic import TypeAdapter
from sqlalchemy import bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from evaluator.adapters.tables import (
    evaluation_queue,
    kept_judgements,
    result_outcomes,
    result_records,
    run_metric_stats,
    runs,
)
from evaluator.domain.run_statistics import ResultOutcome
from evaluator.domain.stats import MetricStats, RunStats
from evaluator.handlers.evaluation import CONSUMER_NAME
from evaluator.handlers.ports import NewRun, Origin, Queued, RunSpec, RunState
from promptworks_contracts.envelope import Envelope
from promptworks_contracts.events import ResultRecorded
from promptworks_contracts.topics import RUN_EVENTS
from promptworks_contracts.values import RECORDED, Assertion, Money
from promptworks_eventkit.dead_letters import encode_headers
from promptworks_eventkit.messages import MessageContext
from promptworks_eventkit.tables import dead_letters

# Takes the oldest queued results no other transaction holds, out of the queue (a rollback puts
# them back), with their kept records: one round trip.
_CLAIM = text(
    """
    WITH claimed AS (
        DELETE FROM evaluation_queue
        WHERE seq IN (
            SELECT seq FROM evaluation_queue
            ORDER BY seq LIMIT :limit FOR UPDATE SKIP LOCKED
        )
        RETURNING seq, run_id, result_id, correlation_id, traceparent, project_id, event_id,
            partition, "offset", stream_version
    )
    SELECT c.seq, c.correlation_id, c.traceparent, c.project_id, r.record,
        c.event_id, c.partition, c."offset", c.stream_version
    FROM claimed c JOIN result_records r USING (run_id, result_id)
    ORDER BY c.seq
    """
)

_FINISHED_RUNS = text(
    """
    SELECT run_id FROM runs
    WHERE ending IS NOT NULL AND status = 'running' AND evaluated >= recorded
    ORDER BY run_id LIMIT :limit FOR UPDATE SKIP LOCKED
    """
)


def _context_json(context: MessageContext | None) -> dict[str, Any] | None:
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


class PostgresEvaluationRepository:
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
        rows = await self._session.execute(query.with_for_update() if lock else query)
        return {row.run_id: RunState(*row[:7], _context(row.end_context)) for row in rows}

    async def load_specs(self, run_ids: Collection[str]) -> dict[str, RunSpec]:
        c = runs.c
        rows = await self._session.execute(
            select(c.run_id, c.assertions, c.cases, c.expected, c.project_id).where(
                c.run_id.in_(sorted(run_ids))
            )
        )
        return {
            run_id: RunSpec(
                _assertions().validate_python(assertions, context=RECORDED),
                cases,
                expected,
                project,
            )
            for run_id, assertions, cases, expected, project in rows
        }

    async def save_states(self, states: Iterable[RunState]) -> None:
        params = [
            {
                "b_run_id": s.run_id,
                "b_evaluated": s.evaluated,
                "b_stream_version": s.stream_version,
                "b_status": s.status,
                "b_ending": s.ending,
                "b_end_context": _context_json(s.end_context),
            }
            for s in states
        ]
        if not params:
            return
        statement = (
            update(runs)
            .where(runs.c.run_id == bindparam("b_run_id"))
            .values(
                evaluated=bindparam("b_evaluated"),
                stream_version=bindparam("b_stream_version"),
                status=bindparam("b_status"),
                ending=bindparam("b_ending"),
                end_context=bindparam("b_end_context", type_=runs.c.end_context.type),
            )
        )
        await self._session.execute(statement, params)

    async def add_stats(self, deltas: Mapping[str, RunStats]) -> None:
        rows = [
            {"run_id": run_id, "name": name, **vars(stats)}
            for run_id, by_name in deltas.items()
            for name, stats in by_name.items()
        ]
        if not rows:
            return
        insert = pg_insert(run_metric_stats)
        stored, new = run_metric_stats.c, insert.excluded
        await self._session.execute(
            insert.on_conflict_do_update(
                index_elements=[stored.run_id, stored.name],
                set_={
                    "count": stored.count + new.count,
                    "sum": stored.sum + new.sum,
                    "sum_squares": stored.sum_squares + new.sum_squares,
                    # LEAST/GREATEST ignore NULLs: a side without values leaves the other's bound.
                    "min": func.least(stored.min, new.min),
                    "max": func.greatest(stored.max, new.max),
                    "passed": stored.passed + new.passed,
                    "failed": stored.failed + new.failed,
                },
            ),
            rows,
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

    async def add_outcomes(self, outcomes: Sequence[ResultOutcome]) -> None:
        if not outcomes:
            return
        rows = [
            {
                "run_id": o.run_id,
                "result_id": o.result_id,
                "case_index": o.case_index,
                "repetition": o.repetition,
                "passed": o.passed,
                "latency_ms": o.latency_ms,
                "digest": o.digest,
                "cost_amount": None if o.cost is None else o.cost.amount,
                "cost_currency": None if o.cost is None else o.cost.currency,
                "judge_cost_amount": None if o.judge_cost is None else o.judge_cost.amount,
                "judge_cost_currency": None if o.judge_cost is None else o.judge_cost.currency,
                "judge_prompt_tokens": o.judge_prompt_tokens,
                "judge_completion_tokens": o.judge_completion_tokens,
            }
            for o in outcomes
        ]
        await self._session.execute(pg_insert(result_outcomes).on_conflict_do_nothing(), rows)

    async def load_outcomes(self, run_ids: Collection[str]) -> dict[str, list[ResultOutcome]]:
        c = result_outcomes.c
        rows = await self._session.execute(
            select(
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
        )
        outcomes: dict[str, list[ResultOutcome]] = {}
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
            outcomes.setdefault(run_id, []).append(
                ResultOutcome(
                    run_id=run_id,
                    result_id=result_id,
                    case_index=case_index,
                    repetition=repetition,
                    passed=passed,
                    latency_ms=latency,
                    digest=digest,
                    cost=None if amount is None else Money(amount=amount, currency=currency),
                    judge_cost=None
                    if judge_amount is None
                    else Money(amount=judge_amount, currency=judge_currency),
                    judge_prompt_tokens=judge_prompt,
                    judge_completion_tokens=judge_completion,
                )
            )
        return outcomes

    async def queue_results(self, queued: Sequence[Queued]) -> dict[str, int]:
        if not queued:
            return {}
        kept = await self._session.execute(
            pg_insert(result_records)
            .on_conflict_do_nothing()
            .returning(result_records.c.run_id, result_records.c.result_id),
            [
                {
                    "run_id": str(q.record.run_id),
                    "result_id": str(q.record.result_id),
                    "record": q.record.model_dump_json(),  # serialised once, in pydantic-core
                }
                for q in queued
            ],
        )
        new = {(run_id, result_id) for run_id, result_id in kept}
        rows = [
            {
                "run_id": str(q.record.run_id),
                "result_id": str(q.record.result_id),
                "correlation_id": q.context.correlation_id,
                "traceparent": q.context.traceparent,
                "project_id": q.context.project,
                "event_id": q.origin.event_id,
                "partition": q.origin.partition,
                "offset": q.origin.offset,
                "stream_version": q.origin.stream_version,
            }
            for q in queued
            if (str(q.record.run_id), str(q.record.result_id)) in new
        ]
        counts: dict[str, int] = {}
        for row in rows:
            run_id = str(row["run_id"])
            counts[run_id] = counts.get(run_id, 0) + 1
        if rows:
            await self._session.execute(pg_insert(evaluation_queue), rows)
            await self._session.execute(
                update(runs)
                .where(runs.c.run_id == bindparam("b_run_id"))
                .values(recorded=runs.c.recorded + bindparam("b_count")),
                [{"b_run_id": r, "b_count": n} for r, n in sorted(counts.items())],
            )
        return counts

    async def claim_queued(self, limit: int) -> list[Queued]:
        rows = await self._session.execute(_CLAIM, {"limit": limit})
        return [
            Queued(
                ResultRecorded.model_validate_json(record, context=RECORDED),
                MessageContext(
                    correlation_id=correlation, traceparent=traceparent, project=project
                ),
                Origin(event_id, partition, offset, stream_version),
                seq,
            )
            for (
                seq,
                correlation,
                traceparent,
                project,
                record,
                event_id,
                partition,
                offset,
                stream_version,
            ) in rows
        ]

    async def record_failure(self, seq: int, error: str, dead_after: int) -> bool:
        q = evaluation_queue.c
        row = (
            await self._session.execute(
                update(evaluation_queue)
                .where(q.seq == seq)
                .values(attempts=q.attempts + 1)
                .returning(
                    q.run_id,
                    q.result_id,
                    q.correlation_id,
                    q.traceparent,
                    q.project_id,
                    q.event_id,
                    q.partition,
                    q.offset,
                    q.stream_version,
                    q.attempts,
                )
            )
        ).first()
        if row is None or row.attempts < dead_after:
            return False
        kept = (result_records.c.run_id == row.run_id) & (
            result_records.c.result_id == row.result_id
        )
        record = (
            await self._session.execute(select(result_records.c.record).where(kept))
        ).scalar_one()
        # The runs consumer's dead letter, as if its handler had failed on the event: an
        # operator's replay applies it through the consumer again (queued and counted anew).
        envelope = Envelope(
            id=UUID(row.event_id),
            type=ResultRecorded.event_type,
            source="/run-orchestrator",
            subject=row.run_id,
            time=datetime.now(UTC),
            correlationid=row.correlation_id,
            streamversion=row.stream_version,
            traceparent=row.traceparent,
            project=row.project_id,
        )
        await self._session.execute(
            dead_letters.insert().values(
                consumer=CONSUMER_NAME,
                topic=RUN_EVENTS,
                partition=row.partition,
                offset=row.offset,
                event_id=row.event_id,
                event_type=ResultRecorded.event_type,
                error=f"evaluation failed {row.attempts} times: {error}"[:4000],
                key=row.run_id.encode(),
                value=record.encode(),
                headers=encode_headers(envelope.to_kafka_headers()),
            )
        )
        await self._session.execute(delete(evaluation_queue).where(q.seq == seq))
        await self._session.execute(delete(result_records).where(kept))
        await self._session.execute(
            update(runs).where(runs.c.run_id == row.run_id).values(recorded=runs.c.recorded - 1)
        )
        return True

    async def finished_runs(self, limit: int) -> list[str]:
        rows = await self._session.execute(_FINISHED_RUNS, {"limit": limit})
        return [run_id for (run_id,) in rows]

    async def forget_judgements(self, keys: Sequence[str]) -> None:
        if keys:
            await self._session.execute(
                delete(kept_judgements).where(kept_judgements.c.key.in_(list(keys)))
            )
