"""``ReevaluationRepository`` on PostgreSQL: the evaluation repository plus the kept results
and the re-evaluation rows (which are also the queuer's work list)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from evaluator.adapters.postgres import PostgresEvaluationRepository, context_json
from evaluator.adapters.tables import evaluations, result_records
from evaluator.handlers.ports import QUEUED, REQUESTED, EvaluationState
from promptworks_contracts.values import Assertion, EvaluatorPin
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
