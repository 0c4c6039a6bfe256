"""Reads of runs and their results.

A results page costs two queries whatever its size (three with a filter: its count): the run's
``recorded`` counter and status, and one indexed range read of the stored documents
(``projections.result_documents``), answered as they are stored. A finished run's page is read
by position (``result_positions``) at any offset.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, NamedTuple
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Row,
    ScalarSelect,
    and_,
    bindparam,
    func,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.values import EvaluatorPin
from promptworks_eventkit.http import MAX_INT32
from query_api.hot_reads import HotReads
from query_api.prepared import Prepared, constant
from query_api.schemas.runs import RunOut, money
from query_api.tables import FINISHED_STATUSES, evaluations, result_positions, results, runs

r = runs.c


async def get_run(session: AsyncSession, run_id: UUID, project: str | None = None) -> RunOut | None:
    """The run (with ``project``: only if it is that project's)."""
    query = select(runs).where(r.run_id == run_id)
    if project is not None:
        query = query.where(r.project_id == project)
    row = (await session.execute(query)).first()
    return None if row is None else _run(row)


async def run_exists(session: AsyncSession, run_id: UUID) -> bool:
    return (await session.scalar(select(r.run_id).where(r.run_id == run_id))) is not None


def latest_reevaluation(run_id: Any) -> ScalarSelect[Any]:
    """The run's latest evaluated re-evaluation (``evaluation_sources.choose``'s default), as a
    scalar subquery: NULL when the run has only its first evaluation."""
    e = evaluations.c
    return (
        select(e.evaluation_id)
        .where(e.run_id == run_id, e.status == "evaluated", e.evaluation_id != run_id)
        .order_by(e.stream_version.desc())
        .limit(1)
        .scalar_subquery()
    )


async def run_for_results(session: AsyncSession, run_id: UUID) -> Any:
    """What a results page needs of its run, in one read: ``recorded``, ``status`` and
    ``latest`` (``latest_reevaluation``); None when the run does not exist."""
    query = select(r.recorded, r.status, latest_reevaluation(run_id).label("latest")).where(
        r.run_id == run_id
    )
    return (await session.execute(query)).first()


class RunForResults(NamedTuple):
    recorded: int
    status: str
    latest: UUID | None


@cache
def _hot_results_page() -> Prepared:
    """``run_for_results`` and, for a finished run, its page by position, in one statement
    (one snapshot: the total and the page agree without a transaction)."""
    run_id = bindparam("run_id", type_=r.run_id.type)
    p, res = result_positions.c, results.c
    numbered = (
        select(
            func.count().label("count"),
            func.string_agg(res.document, aggregate_order_by(constant(","), p.position)).label(
                "body"
            ),
        )
        .select_from(result_positions.join(results, res.result_id == p.result_id))
        .where(
            p.run_id == r.run_id,
            p.position >= bindparam("first"),
            p.position < bindparam("end"),
            r.status.in_([constant(status) for status in FINISHED_STATUSES]),
        )
        .lateral("numbered")
    )
    return Prepared(
        select(
            r.recorded,
            r.status,
            latest_reevaluation(run_id).label("latest"),
            numbered.c.count,
            numbered.c.body,
        )
        .select_from(runs.join(numbered, true()))
        .where(r.run_id == run_id)
    )


async def hot_result_page(
    reads: HotReads, run_id: UUID, limit: int, offset: int
) -> tuple[RunForResults | None, tuple[int, str] | None]:
    """An unfiltered page of the run's latest evaluation, in one statement when the run has
    finished and has no re-evaluation (the common case): (the run, None when it does not
    exist; (the total, the page's JSON array), None when the caller must read it otherwise:
    ``result_page`` given this run, or ``reevaluated_results``)."""
    # Positions are int4: the page's end is capped there (no run has that many results).
    end = min(offset + limit, MAX_INT32)
    row = await reads.row(_hot_results_page(), {"run_id": run_id, "first": offset, "end": end})
    if row is None:
        return None, None
    run = RunForResults(row["recorded"], row["status"], row["latest"])
    if run.latest is not None:
        return run, None
    if run.recorded <= offset:
        return run, (run.recorded, "[]")
    if run.status in FINISHED_STATUSES and row["count"] == min(limit, run.recorded - offset):
        return run, (run.recorded, "[" + row["body"] + "]")
    return run, None  # running, or its results not numbered (yet)


async def result_page(
    session: AsyncSession,
    run_id: UUID,
    limit: int,
    offset: int,
    where: Sequence[ColumnElement[Any]] = (),
    run: Any = None,
) -> tuple[int, list[str]] | None:
    """A page of a run's results ordered by (case_index, repetition): (the total that match,
    each result's stored document); None when the run does not exist. ``where``: more
    conditions on ``results`` (``queries.result_filters``).

    Unfiltered, the total is the run's ``recorded`` counter (one primary-key read that also
    proves the run exists), not a count of 100,000 index entries. ``run``: that read, when the
    caller made it already (``run_for_results``).
    """
    if run is None:
        run = (
            await session.execute(select(r.recorded, r.status).where(r.run_id == run_id))
        ).first()
    if run is None:
        return None
    res = results.c
    matching = and_(res.run_id == run_id, *where)
    total = (
        int(await session.scalar(select(func.count()).select_from(results).where(matching)) or 0)
        if where
        else int(run.recorded)
    )
    if total <= offset:
        return total, []
    if not where and run.status in FINISHED_STATUSES:
        # A finished run's results are numbered: the page is one range read at any offset.
        p = result_positions.c
        numbered = list(
            await session.scalars(
                select(res.document)
                .join(result_positions, p.result_id == res.result_id)
                .where(p.run_id == run_id, p.position >= offset, p.position < offset + limit)
                .order_by(p.position)
            )
        )
        if len(numbered) == min(limit, total - offset):
            return total, numbered
    # Otherwise the offset is skipped on the index alone; documents are read for the page only.
    page = (
        select(res.result_id, res.case_index, res.repetition)
        .where(matching)
        .order_by(res.case_index, res.repetition, res.result_id)
        .limit(limit)
        .offset(offset)
        .cte("page")
    )
    documents = await session.scalars(
        select(res.document)
        .join(page, page.c.result_id == res.result_id)
        .order_by(page.c.case_index, page.c.repetition, page.c.result_id)
    )
    return total, list(documents)


def _run(row: Row[Any]) -> RunOut:
    parameters: dict[str, Any] = row.parameters or {}
    return RunOut(
        id=row.run_id,
        prompt_id=row.prompt_id,
        prompt_version_id=row.prompt_version_id,
        prompt_version_number=row.prompt_version_number,
        provider=row.provider,
        model_name=row.model_name,
        model_version=row.model_version,
        temperature=parameters.get("temperature"),
        top_p=parameters.get("top_p"),
        parameters=parameters,
        repetitions=row.repetitions,
        case_count=row.case_count,
        total_calls=row.total_calls,
        assertions=row.assertions,
        status=row.status,
        failure_reason=row.failure_reason,
        cancelled_by=row.cancelled_by,
        label=row.label,
        cost=money(row.cost, row.currency),
        estimated_cost=money(row.estimated_cost, row.currency),
        budget=money(row.budget, row.currency),
        retry_of=row.retry_of,
        evaluator=(
            None
            if row.evaluator_id is None
            else EvaluatorPin(evaluator_id=row.evaluator_id, version=row.evaluator_version)
        ),
        recorded=row.recorded,
        succeeded=row.succeeded,
        failed=row.failed,
        notes=row.notes,
        metadata=row._mapping["metadata"],
        batch_id=row.batch_id,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        evaluation_summary=row.evaluation_summary,
        stream_version=row.stream_version,
    )
