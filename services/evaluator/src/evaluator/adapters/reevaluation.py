"""``ReevaluationRepository`` on PostgreSQL: the evaluation repository plus the kept results
and the re-evaluation rows (which are also the queuer's work list); and the replay of a
re-evaluation's dead letters (``ReevaluationLetters``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from evaluator.adapters.postgres import PostgresEvaluationRepository, context_json
from evaluator.adapters.tables import evaluation_queue, evaluations, result_records
from evaluator.handlers.ports import QUEUED, REQUESTED, EvaluationState
from promptworks_contracts.values import Assertion, EvaluatorPin
from promptworks_eventkit.dead_letters import DeadLetter, ReplayRefusedError, decode_headers
from promptworks_eventkit.messages import MessageContext

# Every kept result of the run queued for the re-evaluation in ONE statement (PostgreSQL
# copies the rows: nothing of the run passes through Python), counted on its row.
_QUEUE_EVALUATION = text(
    """
    WITH queued AS (
        INSERT INTO evaluation_queue (run_id, result_id, evaluation_id, correlation_id,
            traceparent, project_id)
        SELECT run_id, result_id, :evaluation_id, :correlation_id, :traceparent, :project_id
        FROM result_records WHERE run_id = :run_id
        ORDER BY result_id
        ON CONFLICT DO NOTHING
        RETURNING 1
    )
    UPDATE evaluations SET queued = (SELECT count(*) FROM queued)
    WHERE evaluation_id = :evaluation_id
    RETURNING queued
    """
)


class PostgresReevaluationRepository(PostgresEvaluationRepository):
    async def claim_evaluation(
        self,
        evaluation_id: UUID,
        run_id: str,
        pin: EvaluatorPin,
        assertions: list[Assertion],
        context: MessageContext,
    ) -> UUID | None:
        """Records a new re-evaluation; the existing one's id when this run was already
        re-evaluated with this version (then nothing is recorded)."""
        inserted = await self._session.execute(
            pg_insert(evaluations)
            .values(
                evaluation_id=str(evaluation_id),
                run_id=run_id,
                evaluator_id=str(pin.evaluator_id),
                evaluator_version=pin.version,
                assertions=[a.model_dump(mode="json") for a in assertions],
                request_context=context_json(context),
            )
            .on_conflict_do_nothing()
            .returning(evaluations.c.evaluation_id)
        )
        if inserted.first() is not None:
            return None
        c = evaluations.c
        existing = await self._session.execute(
            select(c.evaluation_id).where(
                c.run_id == run_id,
                c.evaluator_id == str(pin.evaluator_id),
                c.evaluator_version == pin.version,
            )
        )
        return UUID(existing.scalar_one())

    async def count_records(self, run_id: str) -> int:
        count = select(func.count()).select_from(result_records)
        found = await self._session.execute(count.where(result_records.c.run_id == run_id))
        return int(found.scalar_one())

    async def next_requested(self) -> tuple[str, str] | None:
        c, other = evaluations.c, evaluations.alias("other").c
        busy = select(other.evaluation_id).where(other.run_id == c.run_id, other.status == QUEUED)
        row = (
            await self._session.execute(
                select(c.run_id, c.evaluation_id)
                .where(c.status == REQUESTED, ~busy.exists())
                .order_by(c.created_at, c.evaluation_id)
                .limit(1)
            )
        ).first()
        return None if row is None else (row.run_id, row.evaluation_id)

    async def another_queued(self, run_id: str) -> bool:
        c = evaluations.c
        found = await self._session.execute(
            select(c.evaluation_id).where(c.run_id == run_id, c.status == QUEUED).limit(1)
        )
        return found.first() is not None

    async def queue_evaluation(self, evaluation: EvaluationState) -> int:
        context = evaluation.context
        queued = await self._session.execute(
            _QUEUE_EVALUATION,
            {
                "evaluation_id": evaluation.evaluation_id,
                "run_id": evaluation.run_id,
                "correlation_id": context.correlation_id,
                "traceparent": context.traceparent,
                "project_id": context.project,
            },
        )
        return int(queued.scalar_one())

    async def requeue_result(self, evaluation: EvaluationState, result_id: str) -> bool:
        """Queues a kept result for the re-evaluation again (its request's context, no
        attempts); False when it is not kept or is queued already."""
        kept = select(result_records.c.result_id).where(
            result_records.c.run_id == evaluation.run_id, result_records.c.result_id == result_id
        )
        if (await self._session.execute(kept)).first() is None:
            return False
        context = evaluation.context
        queued = await self._session.execute(
            pg_insert(evaluation_queue)
            .values(
                run_id=evaluation.run_id,
                result_id=result_id,
                evaluation_id=evaluation.evaluation_id,
                correlation_id=context.correlation_id,
                traceparent=context.traceparent,
                project_id=context.project,
            )
            .on_conflict_do_nothing()
            .returning(evaluation_queue.c.seq)
        )
        return queued.first() is not None


class ReevaluationLetters:
    """Replays a dead letter of ``evaluator.reevaluation`` (a re-evaluation's result that
    failed ``dead_after`` times; its headers name the evaluation and the result): the result
    is queued for the re-evaluation again and no longer counted as failed, so the workers
    evaluate it and the re-evaluation's one summary counts it. Only while the re-evaluation is
    being evaluated: once summarised, its ``RunEvaluated`` is published without the result and
    a summary is published once, so the replay is refused, naming why (evaluate the run again
    with a new evaluator version). Lock order as everywhere: the run's row, then the
    re-evaluation's (ADR 0022)."""

    async def replay(
        self, session: AsyncSession, letter: DeadLetter, value: bytes | None, headers: Any
    ) -> None:
        named = dict(decode_headers(headers or []))
        if "evaluation_id" not in named or "result_id" not in named:
            raise ReplayRefusedError(
                "recorded before a re-evaluation's letter named its evaluation and result: "
                "evaluate the run again with a new evaluator version"
            )
        evaluation_id, result_id = named["evaluation_id"].decode(), named["result_id"].decode()
        repos = PostgresReevaluationRepository(session)
        run_of = select(evaluations.c.run_id).where(evaluations.c.evaluation_id == evaluation_id)
        run_id = (await session.execute(run_of)).scalar_one_or_none()
        if run_id is None:
            raise ReplayRefusedError(f"re-evaluation {evaluation_id} does not exist")
        await repos.load_states([run_id], lock=True)
        evaluation = (await repos.load_evaluations([evaluation_id]))[evaluation_id]
        if evaluation.status != QUEUED:
            raise ReplayRefusedError(
                f"re-evaluation {evaluation_id} of run {run_id} is {evaluation.status}: its "
                f"summary was published without result {result_id}, and a summary is "
                "published once; evaluate the run again with a new evaluator version"
            )
        if not await repos.requeue_result(evaluation, result_id):
            raise ReplayRefusedError(
                f"result {result_id} of run {run_id} is not kept, or is queued already"
            )
        evaluation.failed -= 1
        await repos.save_evaluations([evaluation])
