"""``EvaluationRepository`` on PostgreSQL, bound to one session (the consumer batch's): every
call is ONE statement for the whole batch."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from functools import cache

from pydantic import TypeAdapter
from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from evaluator.adapters.tables import (
    kept_judgements,
    result_outcomes,
    result_records,
    run_metric_stats,
    runs,
)
from evaluator.domain.run_statistics import ResultOutcome
from evaluator.domain.stats import MetricStats, RunStats
from evaluator.handlers.ports import NewRun, RunSpec, RunState
from promptworks_contracts.events import ResultRecorded
from promptworks_contracts.values import RECORDED, Assertion, Money
from promptworks_eventkit.messages import MessageContext


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

    async def load_states(self, run_ids: Collection[str]) -> dict[str, RunState]:
        c = runs.c
        rows = await self._session.execute(
            select(c.run_id, c.total_calls, c.evaluated, c.stream_version, c.status).where(
                c.run_id.in_(sorted(run_ids))
            )
        )
        return {row.run_id: RunState(*row) for row in rows}

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

    async def add_records(self, records: Sequence[ResultRecorded]) -> None:
        if not records:
            return
        rows = [
            {
                "run_id": str(r.run_id),
                "result_id": str(r.result_id),
                "record": r.model_dump_json(),  # JSON text: serialised once, in pydantic-core
            }
            for r in records
        ]
        await self._session.execute(pg_insert(result_records).on_conflict_do_nothing(), rows)

    async def forget_judgements(self, keys: Sequence[str]) -> None:
        if keys:
            await self._session.execute(
                delete(kept_judgements).where(kept_judgements.c.key.in_(list(keys)))
            )
