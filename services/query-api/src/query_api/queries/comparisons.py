"""Compare a run with a baseline on the same cases: two reads (verdicts, metric values) of
both runs, paired by (case_index, repetition), then ``comparison_stats``. Each side reads one
evaluation of its run (``evaluation_sources``: by default the latest), so a run can also be
compared with itself under another evaluation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import NamedFromClause

from promptworks_contracts.values import Interval
from query_api.queries.comparison_stats import (
    BOOTSTRAP_MAX_PAIRS,
    mcnemar_exact,
    normal_interval,
    paired_bootstrap,
)
from query_api.queries.evaluation_sources import FIRST, EvaluationSource, choose
from query_api.schemas.comparisons import (
    BatchComparisonOut,
    CellComparisonOut,
    ComparisonOut,
    MetricComparison,
    PairOut,
    PassRateComparison,
)
from query_api.tables import batches, results

MAX_LISTED: Final = 1000


@dataclass(frozen=True)
class Sides:
    """The candidate and the baseline: each a run and the evaluation of it that is read."""

    run_id: UUID
    baseline_run_id: UUID
    evaluation: EvaluationSource
    baseline_evaluation: EvaluationSource

    def metrics(self) -> tuple[NamedFromClause, NamedFromClause]:
        return (
            self.evaluation.metrics.alias("mc"),
            self.baseline_evaluation.metrics.alias("mb"),
        )


Pair = tuple[int, int]


async def _verdicts(
    session: AsyncSession, run_id: UUID, source: EvaluationSource
) -> dict[Pair, bool | None]:
    r, v = results.c, source.verdicts.c
    rows = await session.execute(
        select(r.case_index, r.repetition, v.passed)
        .select_from(results.outerjoin(source.verdicts, v.result_id == r.result_id))
        .where(r.run_id == run_id)
    )
    return {(case, repetition): passed for case, repetition, passed in rows}


@dataclass(frozen=True)
class PairedMetric:
    """One metric over the pairs where both runs have a value: SQL's aggregates, and the
    differences themselves when there are few enough to bootstrap."""

    name: str
    pairs: int
    candidate_mean: float
    baseline_mean: float
    delta: float
    std: float | None


async def _paired_metrics(session: AsyncSession, sides: Sides) -> list[PairedMetric]:
    """Per metric name, aggregated in PostgreSQL over the paired results (one query)."""
    run_id, baseline_run_id = sides.run_id, sides.baseline_run_id
    rc, rb = results.alias("rc"), results.alias("rb")
    mc, mb = sides.metrics()
    difference = mc.c.value - mb.c.value
    rows = await session.execute(
        select(
            mc.c.name,
            func.count(),
            func.avg(mc.c.value),
            func.avg(mb.c.value),
            func.avg(difference),
            func.stddev_samp(difference),
        )
        .select_from(
            rc.join(mc, mc.c.result_id == rc.c.result_id)
            .join(
                rb,
                (rb.c.run_id == baseline_run_id)
                & (rb.c.case_index == rc.c.case_index)
                & (rb.c.repetition == rc.c.repetition),
            )
            .join(mb, (mb.c.result_id == rb.c.result_id) & (mb.c.name == mc.c.name))
        )
        .where(rc.c.run_id == run_id, mc.c.value.is_not(None), mb.c.value.is_not(None))
        .group_by(mc.c.name)
        .order_by(mc.c.name)
    )
    return [PairedMetric(*row) for row in rows]


async def _differences(session: AsyncSession, sides: Sides, name: str) -> list[float]:
    run_id, baseline_run_id = sides.run_id, sides.baseline_run_id
    rc, rb = results.alias("rc"), results.alias("rb")
    mc, mb = sides.metrics()
    rows = await session.scalars(
        select(mc.c.value - mb.c.value)
        .select_from(
            rc.join(mc, (mc.c.result_id == rc.c.result_id) & (mc.c.name == name))
            .join(
                rb,
                (rb.c.run_id == baseline_run_id)
                & (rb.c.case_index == rc.c.case_index)
                & (rb.c.repetition == rc.c.repetition),
            )
            .join(mb, (mb.c.result_id == rb.c.result_id) & (mb.c.name == name))
        )
        .where(rc.c.run_id == run_id, mc.c.value.is_not(None), mb.c.value.is_not(None))
        .order_by(rc.c.case_index, rc.c.repetition)
    )
    return [float(value) for value in rows]


async def compare_runs(
    session: AsyncSession,
    run_id: UUID,
    baseline_run_id: UUID,
    *,
    alpha: float,
    max_pass_rate_drop: float,
    evaluation: EvaluationSource = FIRST,
    baseline_evaluation: EvaluationSource = FIRST,
) -> ComparisonOut | None:
    """None when the runs share no (case_index, repetition)."""
    sides = Sides(run_id, baseline_run_id, evaluation, baseline_evaluation)
    candidate, baseline = (
        await _verdicts(session, run_id, evaluation),
        await _verdicts(session, baseline_run_id, baseline_evaluation),
    )
    paired = sorted(candidate.keys() & baseline.keys())
    if not paired:
        return None
    judged = [p for p in paired if candidate[p] is not None and baseline[p] is not None]
    regressions = [p for p in judged if baseline[p] and not candidate[p]]
    fixes = [p for p in judged if candidate[p] and not baseline[p]]
    pass_rate = _pass_rate(judged, candidate, baseline, len(regressions), len(fixes), alpha)
    compared = await _metrics(session, sides)
    drop = -(pass_rate.delta or 0.0)
    regressed = pass_rate.significant and drop > max_pass_rate_drop
    improved = pass_rate.significant and (pass_rate.delta or 0.0) > 0
    return ComparisonOut(
        run_id=run_id,
        baseline_run_id=baseline_run_id,
        pairs=len(paired),
        unpaired=len(candidate) + len(baseline) - 2 * len(paired),
        pass_rate=pass_rate,
        metrics=compared,
        regressions=[PairOut(case_index=c, repetition=r) for c, r in regressions[:MAX_LISTED]],
        fixes=[PairOut(case_index=c, repetition=r) for c, r in fixes[:MAX_LISTED]],
        verdict="regressed" if regressed else "improved" if improved else "no_significant_change",
        regressed=regressed,
        alpha=alpha,
        max_pass_rate_drop=max_pass_rate_drop,
    )


async def batch_cells(session: AsyncSession, batch_id: UUID) -> list[UUID] | None:
    """The run of each cell of the batch, in matrix order; None for an unknown batch."""
    cells = await session.scalar(select(batches.c.cells).where(batches.c.batch_id == batch_id))
    return None if cells is None else [UUID(cell["run_id"]) for cell in cells]


async def compare_cells(
    session: AsyncSession,
    batch_id: UUID,
    cells: list[UUID],
    baseline_run_id: UUID,
    *,
    alpha: float,
    max_pass_rate_drop: float,
) -> BatchComparisonOut:
    compared = []
    # Each cell as its latest evaluation shows it (one re-evaluated cell keeps its new verdicts).
    baseline_evaluation = await choose(session, baseline_run_id, None)
    for run_id in cells:
        comparison = None
        if run_id != baseline_run_id:
            comparison = await compare_runs(
                session,
                run_id,
                baseline_run_id,
                alpha=alpha,
                max_pass_rate_drop=max_pass_rate_drop,
                evaluation=await choose(session, run_id, None),
                baseline_evaluation=baseline_evaluation,
            )
        compared.append(CellComparisonOut(run_id=run_id, comparison=comparison))
    return BatchComparisonOut(
        batch_id=batch_id,
        baseline_run_id=baseline_run_id,
        cells=compared,
        regressed=any(c.comparison is not None and c.comparison.regressed for c in compared),
    )


def _pass_rate(
    judged: list[Pair],
    candidate: Mapping[Pair, bool | None],
    baseline: Mapping[Pair, bool | None],
    baseline_only: int,
    candidate_only: int,
    alpha: float,
) -> PassRateComparison:
    p_value = mcnemar_exact(baseline_only, candidate_only)
    if not judged:
        return PassRateComparison(
            baseline=None,
            candidate=None,
            delta=None,
            baseline_only=0,
            candidate_only=0,
            p_value=1.0,
            significant=False,
        )
    base = sum(1 for p in judged if baseline[p]) / len(judged)
    cand = sum(1 for p in judged if candidate[p]) / len(judged)
    return PassRateComparison(
        baseline=base,
        candidate=cand,
        delta=cand - base,
        baseline_only=baseline_only,
        candidate_only=candidate_only,
        p_value=p_value,
        significant=p_value < alpha,
    )


async def _metrics(session: AsyncSession, sides: Sides) -> list[MetricComparison]:
    compared = []
    for paired in await _paired_metrics(session, sides):
        if paired.pairs <= BOOTSTRAP_MAX_PAIRS:
            differences = await _differences(session, sides, paired.name)
            delta, low, high = paired_bootstrap(differences)
        else:
            delta = paired.delta
            low, high = normal_interval(delta, paired.std or 0.0, paired.pairs)
        compared.append(
            MetricComparison(
                name=paired.name,
                pairs=paired.pairs,
                baseline_mean=paired.baseline_mean,
                candidate_mean=paired.candidate_mean,
                delta=delta,
                delta_interval=Interval(low=low, high=high),
                significant=low > 0 or high < 0,
            )
        )
    return compared
