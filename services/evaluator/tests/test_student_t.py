"""The pure-Python Student t quantile (domain/student_t.py) against scipy's, and known values."""

from __future__ import annotations

import math

import pytest
from scipy.stats import t as scipy_t

from evaluator.domain import student_t
from evaluator.domain.run_statistics import mean_interval

DEGREES = [*range(1, 120), 150, 199, 500, 999, 1000, 9_999, 100_000, 1_000_000]


@pytest.mark.parametrize("p", [0.975, 0.995, 0.9, 0.6, 0.025])
def test_quantiles_equal_scipys(p: float) -> None:
    for df in DEGREES:
        expected = float(scipy_t.ppf(p, df))
        assert student_t.quantile(p, df) == pytest.approx(expected, rel=1e-9, abs=1e-12), df


def test_textbook_values_and_the_interval() -> None:
    assert student_t.quantile(0.975, 1) == pytest.approx(12.706204736174698, rel=1e-12)
    assert student_t.quantile(0.975, 2) == pytest.approx(4.302652729749462, rel=1e-12)
    assert student_t.quantile(0.975, 10) == pytest.approx(2.228138851986274, rel=1e-10)
    assert student_t.quantile(0.975, 30) == pytest.approx(2.0422724563012373, rel=1e-10)
    interval = mean_interval(10.0, 2.0, 11)
    half = 2.228138851986274 * 2.0 / math.sqrt(11)
    assert (interval.low, interval.high) == pytest.approx((10.0 - half, 10.0 + half))


def test_arguments_outside_the_domain_are_refused() -> None:
    for p, df in ((0.0, 5), (1.0, 5), (0.5, 0)):
        with pytest.raises(ValueError):
            student_t.quantile(p, df)
