"""A finished run's statistics from its results' outcomes: pass rate with a 95 % Wilson
interval, latency mean and percentiles, cost, and per case across repetitions flakiness,
pass@k and the consistency of the outputs.

Definitions (so that tests can check figures computed by hand):
- Wilson score interval, z = 1.959963984540054 (the 97.5 % normal quantile):
  centre = (p + z²/2n) / (1 + z²/n), half width = z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n).
- Percentiles interpolate linearly between order statistics: rank (n-1)·q (numpy's default).
- pass@k of a case with n results of which c passed: 1 - C(n-c, k) / C(n, k) (the unbiased
  estimator of Chen et al., 2021), averaged over cases with n ≥ k, for k in 1, 2, 3, 5, 10, 20,
  50 up to the largest n.
- A case is flaky when its results both pass and fail; flakiness = flaky / cases with ≥ 2
  results. Consistency of a case = the share of its outputs equal to its most frequent output
  (``plan.Evaluation.digest``); the run's is the mean over cases with ≥ 2 outputs.
- Cost: the sum of the results' exact costs in the run's currency (the first one seen); results
  without a cost, or in another currency, are counted as ``uncosted``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from evaluator.domain import student_t
from promptworks_contracts.values import (
    CaseStatistics,
    Interval,
    LatencySummary,
    Money,
    PassAtK,
)

Z_95: Final = 1.959963984540054
PASS_AT_K: Final = (1, 2, 3, 5, 10, 20, 50)
MAX_FLAKY_LISTED: Final = 1000


@dataclass(frozen=True, slots=True)
class ResultOutcome:
    """What the run's statistics need of one evaluated result (stored per result)."""

    run_id: str
    result_id: str
    case_index: int
    repetition: int
    passed: bool
    latency_ms: float
    digest: str | None
    cost: Money | None
    judge_cost: Money | None = None
    """What its judge calls cost (None: no judge call, or unpriced)."""
    judge_prompt_tokens: int = 0
    judge_completion_tokens: int = 0


def wilson(passed: int, total: int, z: float = Z_95) -> Interval | None:
    if total <= 0:
        return None
    p = passed / total
    z2 = z * z
    denominator = 1.0 + z2 / total
    centre = (p + z2 / (2 * total)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / total + z2 / (4 * total * total)) / denominator
    return Interval(low=max(0.0, centre - half), high=min(1.0, centre + half))


def mean_interval(mean: float, std: float, count: int) -> Interval:
    """95 % interval of a mean from ``count`` ≥ 2 values: mean ± t(0.975, n-1) · s / √n."""
    half = student_t.quantile(0.975, count - 1) * std / math.sqrt(count)
    return Interval(low=mean - half, high=mean + half)


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``ordered`` (sorted, non-empty), linearly interpolated."""
    rank = (len(ordered) - 1) * q
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(latencies: Sequence[float]) -> LatencySummary | None:
    if not latencies:
        return None
    ordered = sorted(latencies)
    return LatencySummary(
        count=len(ordered),
        mean=math.fsum(ordered) / len(ordered),
        p50=percentile(ordered, 0.50),
        p95=percentile(ordered, 0.95),
        p99=percentile(ordered, 0.99),
        max=ordered[-1],
    )


def pass_at_k(n: int, c: int, k: int) -> float:
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def total_cost(
    outcomes: Sequence[ResultOutcome], *, judge: bool = False
) -> tuple[Money | None, int]:
    """The sum of the results' costs (``judge``: of their judge calls) and how many had none."""
    currency: str | None = None
    amount = Decimal(0)
    uncosted = 0
    for outcome in outcomes:
        cost = outcome.judge_cost if judge else outcome.cost
        if cost is None or (currency is not None and cost.currency != currency):
            uncosted += 1
            continue
        currency = cost.currency
        amount += cost.amount
    return (None if currency is None else Money(amount=amount, currency=currency)), uncosted


def case_statistics(outcomes: Sequence[ResultOutcome]) -> CaseStatistics:
    by_case: dict[int, list[ResultOutcome]] = {}
    for outcome in outcomes:
        by_case.setdefault(outcome.case_index, []).append(outcome)
    repeated = flaky = 0
    flaky_cases: list[int] = []
    consistency: list[float] = []
    for case_index in sorted(by_case):
        results = by_case[case_index]
        if len(results) < 2:
            continue
        repeated += 1
        verdicts = {r.passed for r in results}
        if len(verdicts) == 2:
            flaky += 1
            if len(flaky_cases) < MAX_FLAKY_LISTED:
                flaky_cases.append(case_index)
        digests = [r.digest for r in results if r.digest is not None]
        if len(digests) >= 2:
            consistency.append(Counter(digests).most_common(1)[0][1] / len(digests))
    largest = max((len(r) for r in by_case.values()), default=0)
    at_k = []
    for k in PASS_AT_K:
        if k > largest:
            break
        scores = [
            pass_at_k(len(rs), sum(r.passed for r in rs), k)
            for rs in by_case.values()
            if len(rs) >= k
        ]
        at_k.append(PassAtK(k=k, value=math.fsum(scores) / len(scores), cases=len(scores)))
    return CaseStatistics(
        cases=len(by_case),
        repeated=repeated,
        flaky=flaky,
        flaky_cases=flaky_cases,
        flakiness=flaky / repeated if repeated else None,
        pass_at_k=at_k,
        consistency_score=math.fsum(consistency) / len(consistency) if consistency else None,
    )
