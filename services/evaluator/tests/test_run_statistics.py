"""A run's statistics against values computed by hand (or by the reference tools named in the
comments): Wilson intervals, percentiles, pass@k, flakiness, consistency, cost."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from evaluator.domain.run_statistics import (
    ResultOutcome,
    case_statistics,
    latency_summary,
    pass_at_k,
    percentile,
    total_cost,
    wilson,
)
from evaluator.domain.stats import MetricStats
from evaluator.domain.summary import run_statistics
from promptworks_contracts.values import Money


@pytest.mark.parametrize(
    ("passed", "total", "low", "high"),
    [
        # statsmodels 0.15: proportion_confint(passed, total, method="wilson"), to 6 places
        (0, 10, 0.0, 0.277533),
        (10, 10, 0.722467, 1.0),
        (1, 4, 0.045587, 0.699358),
        (81, 263, 0.255289, 0.366210),
        (50, 100, 0.403832, 0.596168),
    ],
)
def test_wilson_interval(passed: int, total: int, low: float, high: float) -> None:
    interval = wilson(passed, total)
    assert interval is not None
    assert (interval.low, interval.high) == (
        pytest.approx(low, abs=1e-6),
        pytest.approx(high, abs=1e-6),
    )


def test_wilson_of_nothing_is_none() -> None:
    assert wilson(0, 0) is None


def test_wilson_by_hand_for_one_of_four() -> None:
    # z = 1.96, n = 4, p = 0.25: centre (0.25 + 3.8415/8) / (1 + 3.8415/4),
    # half width 1.96 * sqrt(0.25 * 0.75 / 4 + 3.8415/64) / (1 + 3.8415/4).
    z2 = 1.959963984540054**2
    centre = (0.25 + z2 / 8) / (1 + z2 / 4)
    half = math.sqrt(z2) * math.sqrt(0.1875 / 4 + z2 / 64) / (1 + z2 / 4)
    interval = wilson(1, 4)
    assert interval is not None
    assert (interval.low, interval.high) == (
        pytest.approx(centre - half),
        pytest.approx(centre + half),
    )


def test_percentiles_interpolate_like_numpy() -> None:
    values = [float(v) for v in range(10, 101, 10)]  # 10, 20, ..., 100
    # numpy.percentile(values, [50, 95, 99]) == [55.0, 95.5, 99.1]
    assert percentile(values, 0.50) == pytest.approx(55.0)
    assert percentile(values, 0.95) == pytest.approx(95.5)
    assert percentile(values, 0.99) == pytest.approx(99.1)
    assert percentile([7.0], 0.99) == 7.0
    summary = latency_summary(list(reversed(values)))
    assert summary is not None
    assert (summary.count, summary.mean, summary.p50, summary.max) == (10, 55.0, 55.0, 100.0)
    assert latency_summary([]) is None


def test_pass_at_k_is_the_unbiased_estimator() -> None:
    assert pass_at_k(5, 2, 1) == pytest.approx(2 / 5)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # 1 - C(3,2)/C(5,2)
    assert pass_at_k(5, 0, 3) == 0.0
    assert pass_at_k(5, 3, 3) == 1.0  # fewer than k failures: some draw of k passes


def outcome(
    case: int, passed: bool, digest: str | None = "x", cost: str | None = None
) -> ResultOutcome:
    return ResultOutcome(
        run_id="r",
        result_id=f"{case}-{passed}-{digest}-{cost}-{id(object())}",
        case_index=case,
        repetition=1,
        passed=passed,
        latency_ms=10.0,
        digest=digest,
        cost=None if cost is None else Money(amount=Decimal(cost)),
    )


def test_case_statistics_flakiness_pass_at_k_and_consistency() -> None:
    outcomes = [
        # case 0: 3 passes, same output -> steady, consistency 1
        *(outcome(0, True, "a") for _ in range(3)),
        # case 1: pass, fail, fail; outputs a, b, b -> flaky, consistency 2/3
        outcome(1, True, "a"),
        outcome(1, False, "b"),
        outcome(1, False, "b"),
        # case 2: one result only: not repeated
        outcome(2, False, "c"),
    ]
    stats = case_statistics(outcomes)
    assert (stats.cases, stats.repeated, stats.flaky, stats.flaky_cases) == (3, 2, 1, [1])
    assert stats.flakiness == 0.5
    assert stats.consistency_score == pytest.approx((1 + 2 / 3) / 2)
    at = {p.k: p for p in stats.pass_at_k}
    assert sorted(at) == [1, 2, 3]
    # k=1 over the three cases: (1 + 1/3 + 0) / 3; k=2 over cases 0 and 1: (1 + (1 - 1/3)) / 2;
    # k=3: (1 + 1) / 2.
    assert at[1].value == pytest.approx((1 + 1 / 3) / 3) and at[1].cases == 3
    assert at[2].value == pytest.approx((1 + 2 / 3) / 2) and at[2].cases == 2
    assert at[3].value == pytest.approx(1.0)


def test_failed_calls_have_no_output_to_be_consistent_with() -> None:
    stats = case_statistics([outcome(0, True, "a"), outcome(0, False, None)])
    assert stats.consistency_score is None and stats.flaky == 1


def test_cost_is_the_exact_sum_in_the_runs_currency() -> None:
    cost, uncosted = total_cost(
        [outcome(0, True, cost="0.1"), outcome(0, True, cost="0.2"), outcome(1, True)]
    )
    assert cost == Money(amount=Decimal("0.3")) and uncosted == 1  # 0.1 + 0.2, exactly
    euros = ResultOutcome("r", "e", 0, 1, True, 1.0, None, Money(amount=Decimal(1), currency="EUR"))
    assert total_cost([outcome(0, True, cost="1"), euros]) == (Money(amount=Decimal(1)), 1)
    assert total_cost([]) == (None, 0)


def test_run_statistics_put_it_together() -> None:
    stats = {
        "prompt_tokens": MetricStats(count=3, sum=30.0),
        "completion_tokens": MetricStats(count=3, sum=12.0),
        "total_tokens": MetricStats(count=3, sum=42.0),
    }
    fields = run_statistics([outcome(0, True), outcome(0, False), outcome(1, True)], stats)
    assert (fields["passed"], fields["pass_rate"]) == (2, 2 / 3)
    assert fields["tokens"].model_dump() == {
        "prompt_tokens": 30,
        "completion_tokens": 12,
        "total_tokens": 42,
    }
    empty = run_statistics([], {})
    assert (empty["pass_rate"], empty["pass_rate_interval"], empty["latency"]) == (None, None, None)
