"""Compare a run with a baseline on the same cases: two reads (verdicts, metric values) of
both runs, paired by (case_index, repetition), then ``comparison_stats``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.values import Interval
from query_api.queries.comparison_stats import mcnemar_exact, paired_bootstrap
from query_api.schemas.comparisons import (
    BatchComparisonOut,
    CellComparisonOut,
    ComparisonOut,
    MetricComparison,
    PairOut,
    PassRateComparison,
)
from query_api.tables import batches, metrics, result_verdicts, results

MAX_LISTED: Final = 1000

Pair = tuple[int, int]


async def _verdicts(session: AsyncSession, run_id: UUID) -> dict[Pair, bool | None]:
    r, v = results.c, result_verdicts.c
    rows = await session.execute(
        select(r.case_index, r.repetition, v.passed)
        .select_from(results.outerjoin(result_verdicts, v.result_id == r.result_id))
        .where(r.run_id == run_id)
    )
    return {(case, repetition): passed for case, repetition, passed in rows}


async def _values(session: AsyncSession, run_id: UUID) -> dict[str, dict[Pair, float]]:
    r, m = results.c, metrics.c
    rows = await session.execute(
        select(m.name, r.case_index, r.repetition, m.value)
        .select_from(results.join(metrics, m.result_id == r.result_id))
        .where(r.run_id == run_id, m.value.is_not(None))
    )
    found: dict[str, dict[Pair, float]] = {}
    for name, case, repetition, value in rows:
        found.setdefault(name, {})[(case, repetition)] = value
    return found


async def compare_runs(
    session: AsyncSession,
    run_id: UUID,
    baseline_run_id: UUID,
    *,
    alpha: float,
    max_pass_rate_drop: float,
) -> ComparisonOut | None:
    """None when the runs share no (case_index, repetition)."""
    candidate, baseline = (
        await _verdicts(session, run_id),
        await _verdicts(session, baseline_run_id),
    )
    paired = sorted(candidate.keys() & baseline.keys())
    if not paired:
        return None
    judged = [p for p in paired if candidate[p] is not None and baseline[p] is not None]
    regressions = [p for p in judged if baseline[p] and not candidate[p]]
    fixes = [p for p in judged if candidate[p] and not baseline[p]]
    pass_rate = _pass_rate(judged, candidate, baseline, len(regressions), len(fixes), alpha)
    compared = _metrics(
        await _values(session, run_id), await _values(session, baseline_run_id), paired
    )
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
    for run_id in cells:
        comparison = None
        if run_id != baseline_run_id:
            comparison = await compare_runs(
                session,
                run_id,
                baseline_run_id,
                alpha=alpha,
                max_pass_rate_drop=max_pass_rate_drop,
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


def _metrics(
    candidate: Mapping[str, Mapping[Pair, float]],
    baseline: Mapping[str, Mapping[Pair, float]],
    paired: list[Pair],
) -> list[MetricComparison]:
    compared = []
    for name in sorted(candidate.keys() & baseline.keys()):
        mine, theirs = candidate[name], baseline[name]
        both = [p for p in paired if p in mine and p in theirs]
        if not both:
            continue
        delta, low, high = paired_bootstrap([mine[p] - theirs[p] for p in both])
        compared.append(
            MetricComparison(
                name=name,
                pairs=len(both),
                baseline_mean=sum(theirs[p] for p in both) / len(both),
                candidate_mean=sum(mine[p] for p in both) / len(both),
                delta=delta,
                delta_interval=Interval(low=low, high=high),
                significant=low > 0 or high < 0,
            )
        )
    return compared
