"""``EvaluationRepository`` on PostgreSQL, bound to one session (the consumer batch's): every
call is ONE statement for the whole batch."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any
from uuid import UUID

from pydantic import TypeAdapter
from sqlalchemy import Table, bindparam, delete, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from evaluator.adapters.tables import (
    evaluation_queue,
    evaluations,
    kept_judgements,
    result_outcomes,
    result_records,
    run_metric_stats,
    runs,
)
from evaluator.domain.run_statistics import ResultOutcome
from evaluator.domain.stats import MetricStats, RunStats
from evaluator.handlers.evaluation import CONSUMER_NAME
from evaluator.handlers.ports import (
    EvaluationState,
    NewRun,
    Origin,
    Queued,
    RecentRecords,
    RunSpec,
    RunState,
    UnreadableClaim,
)
from promptworks_contracts.envelope import Envelope
from promptworks_contracts.events import ResultRecorded
from promptworks_contracts.topics import RUN_EVENTS
from promptworks_contracts.values import RECORDED, Assertion, Money
from promptworks_eventkit.dead_letters import encode_headers
from promptworks_eventkit.messages import MessageContext
from promptworks_eventkit.tables import dead_letters

# Takes the oldest queued results no other transaction holds, out of the queue (a rollback puts
# them back): one round trip. Their kept records are read in a second one, and only those of
# results this process's consumer did not queue (``RecentRecords``): most claims read none.
_CLAIM = text(
    """
    DELETE FROM evaluation_queue
    WHERE seq IN (
        SELECT seq FROM evaluation_queue
        ORDER BY seq LIMIT :limit FOR UPDATE SKIP LOCKED
    )
    RETURNING seq, correlation_id, traceparent, project_id, event_id, partition, "offset",
        stream_version, run_id, result_id, evaluation_id
    """
)

_KEPT_RECORDS = text(
    """
    SELECT r.result_id, r.record
    FROM unnest(CAST(:run_ids AS text[]), CAST(:result_ids AS text[])) AS k(run_id, result_id)
    JOIN result_records r USING (run_id, result_id)
    """
)

# A batch's results kept and queued in one statement of arrays (asyncpg encodes them in C; an
# insert of many rows through SQLAlchemy's executemany bound every value in Python): the
# records new to ``result_records`` (a redelivered result is kept once) are queued, in the
# batch's order (``seq`` is the order the workers take them in); the queued count per run.
_QUEUE = text(
    """
    WITH given AS (
        SELECT * FROM unnest(
            CAST(:run_ids AS text[]), CAST(:result_ids AS text[]), CAST(:records AS text[]),
            CAST(:correlation_ids AS text[]), CAST(:traceparents AS text[]),
            CAST(:project_ids AS text[]), CAST(:event_ids AS text[]),
            CAST(:partitions AS integer[]), CAST(:offsets AS bigint[]),
            CAST(:stream_versions AS integer[])
        ) WITH ORDINALITY AS g(run_id, result_id, record, correlation_id, traceparent,
            project_id, event_id, partition, "offset", stream_version, n)
    ), kept AS (
        INSERT INTO result_records (run_id, result_id, record)
        SELECT run_id, result_id, record FROM given ORDER BY n
        ON CONFLICT DO NOTHING
        RETURNING run_id, result_id
    ), queued AS (
        INSERT INTO evaluation_queue (run_id, result_id, correlation_id, traceparent,
            project_id, event_id, partition, "offset", stream_version)
        SELECT g.run_id, g.result_id, g.correlation_id, g.traceparent, g.project_id,
            g.event_id, g.partition, g."offset", g.stream_version
        FROM given g JOIN kept USING (run_id, result_id) ORDER BY g.n
        RETURNING run_id
    )
    SELECT run_id, count(*) FROM queued GROUP BY run_id
    """
)

# A claim's statistics, outcomes and run states in ONE statement of arrays (see ``_QUEUE``):
# three writes, one round trip (each sub-statement a different table; the runs' rows are
# locked by the claim already). A part with empty arrays writes nothing.
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

_FINISHED_RUNS = text(
    """
    SELECT run_id FROM runs
    WHERE ending IS NOT NULL AND status = 'running' AND evaluated >= recorded
    ORDER BY run_id LIMIT :limit FOR UPDATE SKIP LOCKED
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

REEVALUATION_WORKER = "evaluator.reevaluation"
"""The dead letters of re-evaluations' results (replayed by ``ReevaluationLetters``)."""

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


def _origin(queued: Queued) -> Origin:
    if queued.origin is None:  # the consumer queues Kafka records: each has its origin
        raise ValueError(f"result {queued.record.result_id} queued without its origin")
    return queued.origin


def _nothing(result_id: str) -> ResultRecorded | None:
    return None


def _found(record: ResultRecorded | None, result_id: str) -> ResultRecorded:
    if record is None:  # queued only with its kept record (``_QUEUE``), removed together
        raise LookupError(f"queued result {result_id} has no kept record")
    return record


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

    async def queue_results(self, queued: Sequence[Queued]) -> dict[str, int]:
        if not queued:
            return {}
        records = [q.record for q in queued]
        contexts = [q.context for q in queued]
        origins = [_origin(q) for q in queued]
        rows = await self._session.execute(
            _QUEUE,
            {
                "run_ids": [str(r.run_id) for r in records],
                "result_ids": [str(r.result_id) for r in records],
                # Serialised once, in pydantic-core.
                "records": [r.model_dump_json() for r in records],
                "correlation_ids": [c.correlation_id for c in contexts],
                "traceparents": [c.traceparent for c in contexts],
                "project_ids": [c.project for c in contexts],
                "event_ids": [o.event_id for o in origins],
                "partitions": [o.partition for o in origins],
                "offsets": [o.offset for o in origins],
                "stream_versions": [o.stream_version for o in origins],
            },
        )
        counts = {run_id: int(count) for run_id, count in rows}
        if counts:
            await self._session.execute(
                update(runs)
                .where(runs.c.run_id == bindparam("b_run_id"))
                .values(recorded=runs.c.recorded + bindparam("b_count")),
                [{"b_run_id": r, "b_count": n} for r, n in sorted(counts.items())],
            )
        return counts

    async def claim_queued(self, limit: int, recent: RecentRecords | None = None) -> list[Queued]:
        rows = sorted(await self._session.execute(_CLAIM, {"limit": limit}))  # by seq
        take = recent.take if recent is not None else _nothing
        records = {row.result_id: take(row.result_id) for row in rows}
        if missing := [row for row in rows if records[row.result_id] is None]:
            kept = await self._session.execute(
                _KEPT_RECORDS,
                {
                    "run_ids": [row.run_id for row in missing],
                    "result_ids": [row.result_id for row in missing],
                },
            )
            try:
                for result_id, record in kept:
                    records[result_id] = ResultRecorded.model_validate_json(
                        record, context=RECORDED
                    )
            except ValueError as error:  # pydantic's ValidationError is one
                raise UnreadableClaim([row.seq for row in rows], error) from error
        return [
            Queued(
                _found(records[result_id], result_id),
                MessageContext(
                    correlation_id=correlation, traceparent=traceparent, project=project
                ),
                None if event_id is None else Origin(event_id, partition, offset, stream_version),
                seq,
                evaluation_id,
            )
            for (
                seq,
                correlation,
                traceparent,
                project,
                event_id,
                partition,
                offset,
                stream_version,
                _,
                result_id,
                evaluation_id,
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
                    q.evaluation_id,
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
        if row.evaluation_id is not None:
            await self._reevaluation_failed(seq, row, record, error)
            return True
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

    async def _reevaluation_failed(self, seq: int, row: Any, record: str, error: str) -> None:
        """A re-evaluation's result that keeps failing leaves it (counted in ``failed``; the
        run's result and its first evaluation stay as they are): a dead letter whose headers
        name the re-evaluation and the result, which a replay queues again while the
        re-evaluation is being evaluated (``adapters.reevaluation.ReevaluationLetters``). The
        last one to leave lets the idle workers' sweep summarise the re-evaluation."""
        await self._session.execute(
            dead_letters.insert().values(
                consumer=REEVALUATION_WORKER,
                topic=RUN_EVENTS,
                partition=-1,  # not from a Kafka record: queued from the kept result
                offset=-1,
                event_id=None,
                event_type=ResultRecorded.event_type,
                error=(f"re-evaluation {row.evaluation_id} failed {row.attempts} times: {error}")[
                    :4000
                ],
                key=row.run_id.encode(),
                value=record.encode(),
                headers=encode_headers(
                    [
                        ("evaluation_id", row.evaluation_id.encode()),
                        ("result_id", row.result_id.encode()),
                    ]
                ),
            )
        )
        await self._session.execute(delete(evaluation_queue).where(evaluation_queue.c.seq == seq))
        await self._session.execute(
            update(evaluations)
            .where(evaluations.c.evaluation_id == row.evaluation_id)
            .values(failed=evaluations.c.failed + 1)
        )

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
