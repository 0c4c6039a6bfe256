"""``AdviceRepository`` on PostgreSQL: the advice rows (also the worker's queue) and what a
run's advice is grounded in, read from the evaluator's own tables and event store (the pinned
evaluation's ``RunEvaluated`` in the run's stream and its failing ``ResultEvaluated``)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from evaluator.adapters.postgres import PostgresEvaluationRepository
from evaluator.adapters.tables import advice, evaluations, result_records, runs
from evaluator.domain.advice import MAX_FAILING, AdviceGrounds, FailingResult
from evaluator.handlers.advice import ClaimedAdvice, RunForAdvice
from promptworks_contracts.api.advice import AdviceRequest
from promptworks_contracts.events import ResultEvaluated, RunEvaluated
from promptworks_contracts.values import ModelRef
from promptworks_eventkit.tables import events

REQUESTED = "requested"
EVALUATED = "evaluated"


class PostgresAdviceRepository(PostgresEvaluationRepository):
    async def run_for_advice(self, run_id: str) -> RunForAdvice | None:
        c = runs.c
        row = (
            await self._session.execute(
                select(c.project_id, c.status, c.subject).where(c.run_id == run_id)
            )
        ).first()
        return None if row is None else RunForAdvice(row.project_id, row.status, row.subject)

    async def add_advice(
        self,
        advice_id: UUID,
        run_id: str,
        project: str,
        request: AdviceRequest,
        evaluation_id: UUID,
    ) -> None:
        await self._session.execute(
            pg_insert(advice).values(
                advice_id=str(advice_id),
                run_id=run_id,
                project_id=project,
                provider=request.provider,
                model=request.model,
                focus=request.focus,
                max_attempts=request.max_attempts,
                evaluation_id=str(evaluation_id),
            )
        )

    async def latest_reevaluation(self, run_id: str) -> UUID | None:
        c = evaluations.c
        latest = await self._session.scalar(
            select(c.evaluation_id)
            .where(c.run_id == run_id, c.status == EVALUATED)
            .order_by(c.created_at.desc(), c.evaluation_id.desc())
            .limit(1)
        )
        return None if latest is None else UUID(latest)

    async def reevaluation_status(self, run_id: str, evaluation_id: UUID) -> str | None:
        c = evaluations.c
        status: str | None = await self._session.scalar(
            select(c.status).where(c.run_id == run_id, c.evaluation_id == str(evaluation_id))
        )
        return status

    async def next_advice(self) -> ClaimedAdvice | None:
        c = advice.c
        row = (
            await self._session.execute(
                select(c.advice_id, c.run_id, c.project_id, c.provider, c.model)
                .add_columns(c.focus, c.max_attempts, c.evaluation_id)
                .where(c.status == REQUESTED)
                .order_by(c.created_at, c.advice_id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
        ).first()
        if row is None:
            return None
        return ClaimedAdvice(
            advice_id=UUID(row.advice_id),
            run_id=row.run_id,
            project=row.project_id,
            model=ModelRef(provider=row.provider, name=row.model),
            focus=row.focus,
            max_attempts=row.max_attempts,
            evaluation_id=None if row.evaluation_id is None else UUID(row.evaluation_id),
        )

    async def mark_advice(self, advice_id: UUID, status: str) -> None:
        await self._session.execute(
            update(advice).where(advice.c.advice_id == str(advice_id)).values(status=status)
        )

    async def grounds(self, run_id: str, evaluation_id: UUID | None = None) -> AdviceGrounds:
        """``evaluation_id``: the run's id names its first evaluation (whose events carry no
        ``evaluation_id``); None, the latest one."""
        c = runs.c
        run = (
            await self._session.execute(
                select(c.subject, c.cases, c.expected).where(c.run_id == run_id)
            )
        ).one()
        e = events.c
        evaluation = e.data["evaluation_id"].astext
        summaries = select(e.data).where(
            e.stream_id == run_id, e.event_type == RunEvaluated.event_type
        )
        if evaluation_id is not None:
            summaries = summaries.where(
                evaluation.is_(None)
                if str(evaluation_id) == run_id
                else evaluation == str(evaluation_id)
            )
        latest = (
            await self._session.execute(summaries.order_by(e.version.desc()).limit(1))
        ).scalar_one_or_none()
        chosen = latest.get("evaluation_id") if latest else None
        failing_rows = await self._session.execute(
            select(e.data)
            .where(
                e.stream_id == run_id,
                e.event_type == ResultEvaluated.event_type,
                e.data["passed"].astext == "false",
                evaluation.is_(None) if chosen is None else evaluation == chosen,
            )
            .order_by(e.version)
            .limit(MAX_FAILING)
        )
        failing = [row.data for row in failing_rows]
        records = await self._records(run_id, [str(f["result_id"]) for f in failing])
        cases: list[dict[str, Any]] = run.cases or []
        expected: list[Any] = run.expected or []
        found = []
        for evaluated in failing:
            record = records.get(str(evaluated["result_id"]), {})
            index = int(record.get("case_index", 0))
            found.append(
                FailingResult(
                    case_index=index,
                    repetition=int(record.get("repetition", 1)),
                    variables=cases[index] if index < len(cases) else {},
                    expected=expected[index] if index < len(expected) else None,
                    output=record.get("output"),
                    error=record.get("error"),
                    reasons=evaluated.get("reasons") or [],
                )
            )
        return AdviceGrounds(subject=run.subject, summary=latest, failing=found)

    async def _records(self, run_id: str, result_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not result_ids:
            return {}
        c = result_records.c
        rows = await self._session.execute(
            select(c.result_id, c.record).where(c.run_id == run_id, c.result_id.in_(result_ids))
        )
        return {row.result_id: json.loads(row.record) for row in rows}
