"""Which evaluation of a run a read shows: the run's first evaluation (``metrics``,
``result_verdicts``) or a re-evaluation (``evaluation_metrics`` / ``evaluation_verdicts`` under
its id). Both are offered to the queries with the same columns, so results, filters, exports
and comparisons read either the same way.

Default: the latest evaluation, i.e. the run's evaluated re-evaluation latest in its evaluation
stream, else the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import FromClause, select
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_eventkit.errors import ConflictError, NotFoundError
from query_api.tables import (
    evaluation_metrics,
    evaluation_verdicts,
    evaluations,
    metrics,
    result_verdicts,
)

e = evaluations.c


@dataclass(frozen=True)
class EvaluationSource:
    evaluation_id: UUID | None
    """None: the run's first evaluation."""
    metrics: FromClause
    """Columns result_id, name, value, passed, detail."""
    verdicts: FromClause
    """Columns result_id, passed, score, reasons, judgements, output_checks."""


FIRST = EvaluationSource(None, metrics, result_verdicts)


def reevaluation(evaluation_id: UUID) -> EvaluationSource:
    m, v = evaluation_metrics.c, evaluation_verdicts.c
    return EvaluationSource(
        evaluation_id,
        select(m.result_id, m.name, m.value, m.passed, m.detail)
        .where(m.evaluation_id == evaluation_id)
        .subquery("chosen_metrics"),
        select(v.result_id, v.passed, v.score, v.reasons, v.judgements, v.output_checks)
        .where(v.evaluation_id == evaluation_id)
        .subquery("chosen_verdicts"),
    )


async def choose(
    session: AsyncSession, run_id: UUID, evaluation: UUID | None, field: str = "evaluation"
) -> EvaluationSource:
    """The evaluation ``evaluation`` names (the run's id: its first), or the latest; 404 naming
    ``field`` when it is not one of the run's, 409 while it is still being evaluated."""
    if evaluation is None:
        latest = await session.scalar(
            select(e.evaluation_id)
            .where(e.run_id == run_id, e.status == "evaluated", e.evaluation_id != run_id)
            .order_by(e.stream_version.desc())
            .limit(1)
        )
        return FIRST if latest is None else reevaluation(latest)
    if evaluation == run_id:
        return FIRST
    status = await session.scalar(
        select(e.status).where(e.evaluation_id == evaluation, e.run_id == run_id)
    )
    if status is None:
        raise NotFoundError(
            f"run {run_id} has no evaluation {evaluation}", field=field, rule="not_found"
        )
    if status != "evaluated":
        raise ConflictError(
            f"evaluation {evaluation} is still being made; read it once it is evaluated",
            field=field,
            rule="evaluation_pending",
        )
    return reevaluation(evaluation)
