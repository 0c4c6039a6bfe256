"""``ReevaluationRepository`` on PostgreSQL: the evaluation repository plus the kept results
and the re-evaluation rows (which are also the worker's queue)."""

from __future__ import annotations

from functools import cache
from uuid import UUID

from pydantic import TypeAdapter
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from evaluator.adapters.postgres import PostgresEvaluationRepository
from evaluator.adapters.tables import evaluations, result_records
from evaluator.handlers.reevaluation import Claimed
from promptworks_contracts.events import ResultRecorded
from promptworks_contracts.values import RECORDED, Assertion, EvaluatorPin

REQUESTED = "requested"
EVALUATED = "evaluated"


@cache
def _assertions() -> TypeAdapter[list[Assertion]]:
    return TypeAdapter(list[Assertion])


class PostgresReevaluationRepository(PostgresEvaluationRepository):
    async def claim_evaluation(
        self, evaluation_id: UUID, run_id: str, pin: EvaluatorPin, assertions: list[Assertion]
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

    async def next_requested(self) -> Claimed | None:
        """The oldest re-evaluation still to do, locked for this transaction (others skip it)."""
        c = evaluations.c
        row = (
            await self._session.execute(
                select(c.evaluation_id, c.run_id, c.assertions)
                .where(c.status == REQUESTED)
                .order_by(c.created_at, c.evaluation_id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
        ).first()
        if row is None:
            return None
        # Definitions were valid when pinned: read them as recorded facts.
        assertions = _assertions().validate_python(row.assertions, context=RECORDED)
        return Claimed(UUID(row.evaluation_id), row.run_id, assertions)

    async def mark_evaluated(self, evaluation_id: UUID) -> None:
        await self._session.execute(
            update(evaluations)
            .where(evaluations.c.evaluation_id == str(evaluation_id))
            .values(status=EVALUATED)
        )

    async def load_records(self, run_id: str) -> list[ResultRecorded]:
        c = result_records.c
        rows = await self._session.execute(select(c.record).where(c.run_id == run_id))
        records = [ResultRecorded.model_validate_json(row.record, context=RECORDED) for row in rows]
        return sorted(records, key=lambda r: (r.case_index, r.repetition, str(r.result_id)))
