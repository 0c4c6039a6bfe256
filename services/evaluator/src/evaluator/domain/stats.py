"""Running statistics per (run, metric) and the summaries computed from them.

- ``count``/``sum``/``min``/``max`` cover the results whose metric had a value (None values,
  e.g. ``tokens_per_second`` of a failed call, are left out of the mean).
- ``passed``/``failed`` count the results whose metric had a verdict; ``pass_rate`` is
  passed / (passed + failed), None when nothing had one.
- ``sum_squares`` gives the sample standard deviation (n - 1) and the mean's 95 % interval
  (Student's t, n - 1 degrees of freedom), for judge scores and every other metric.
- Statistics merge associatively (``merge``), so a batch's deltas can be added to the stored
  ones, in SQL as well.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter, mul
from typing import Any, Final

from evaluator.domain.run_statistics import mean_interval, wilson
from promptworks_contracts.values import MetricSummary, MetricValue


@dataclass
class MetricStats:
    count: int = 0
    sum: float = 0.0
    min: float | None = None
    max: float | None = None
    passed: int = 0
    failed: int = 0
    sum_squares: float = 0.0

    def add(self, metric: MetricValue) -> None:
        self.add_value(metric.value, metric.passed)

    def add_value(self, value: float | None, passed: bool | None) -> None:
        if value is not None:
            self.count += 1
            self.sum += value
            self.sum_squares += value * value
            self.min = value if self.min is None or value < self.min else self.min
            self.max = value if self.max is None or value > self.max else self.max
        if passed is True:
            self.passed += 1
        elif passed is False:
            self.failed += 1

    def merge(self, other: MetricStats) -> None:
        """Adds ``other``'s results; a side without values leaves the other's min/max."""
        self.count += other.count
        self.sum += other.sum
        self.sum_squares += other.sum_squares
        self.min = _bound(min, self.min, other.min)
        self.max = _bound(max, self.max, other.max)
        self.passed += other.passed
        self.failed += other.failed

    def std(self) -> float | None:
        if self.count < 2:
            return None
        mean = self.sum / self.count
        # Rounding can make the difference a hair below zero for constant values.
        variance = max(0.0, (self.sum_squares - self.count * mean * mean) / (self.count - 1))
        return math.sqrt(variance)

    def summary(self, name: str) -> MetricSummary:
        judged = self.passed + self.failed
        std = self.std()
        return MetricSummary(
            name=name,
            count=self.count,
            mean=self.sum / self.count if self.count else None,
            min=self.min,
            max=self.max,
            pass_rate=self.passed / judged if judged else None,
            passed=self.passed if judged else None,
            judged=judged if judged else None,
            pass_rate_interval=wilson(self.passed, judged),
            std=std,
            mean_interval=None
            if std is None
            else mean_interval(self.sum / self.count, std, self.count),
        )


def _bound(pick: Callable[[float, float], float], a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return b if a is None else a
    return pick(a, b)


RunStats = dict[str, MetricStats]
"""Metric name -> statistics, for one run."""


Metric = MetricValue | Mapping[str, Any]
"""A metric as a model or as its fields (``metrics.metric_documents``): the worker adds up the
fields it encodes, without making models."""

_FROM_MODEL: Final = (attrgetter("name"), attrgetter("value"), attrgetter("passed"))
_FROM_FIELDS: Final = (itemgetter("name"), itemgetter("value"), itemgetter("passed"))


def _getters(metric: Metric) -> tuple[Callable[[Any], Any], ...]:
    return _FROM_FIELDS if isinstance(metric, Mapping) else _FROM_MODEL


def accumulate(stats: RunStats, metrics: Iterable[Metric]) -> None:
    for metric in metrics:
        name, value, passed = _getters(metric)
        entry = stats.get(name(metric))
        if entry is None:
            entry = stats[name(metric)] = MetricStats()
        entry.add_value(value(metric), passed(metric))


def accumulate_all(stats: RunStats, results: Sequence[Sequence[Metric]]) -> None:
    """``accumulate`` of each result's metrics in turn, a metric at a time over all results
    (the results of one run carry the same metrics in the same order): sums, bounds and counts
    in C instead of a method call per metric and result. The sums are the same additions in
    the same order, so equal to ``accumulate``'s from empty statistics."""
    if not results or not results[0]:
        for metrics in results:
            accumulate(stats, metrics)
        return
    _name, _value, _passed = _getters(results[0][0])
    names = list(map(_name, results[0]))
    if any(list(map(_name, metrics)) != names for metrics in results):
        for metrics in results:
            accumulate(stats, metrics)
        return
    for name, column in zip(names, zip(*results, strict=True), strict=True):
        entry = stats.get(name)
        if entry is None:
            entry = stats[name] = MetricStats()
        present = [value for value in map(_value, column) if value is not None]
        if present:
            entry.count += len(present)
            entry.sum += sum(present)
            entry.sum_squares += sum(map(mul, present, present))
            low, high = min(present), max(present)
            entry.min = low if entry.min is None or low < entry.min else entry.min
            entry.max = high if entry.max is None or high > entry.max else entry.max
        verdicts = list(map(_passed, column))
        entry.passed += verdicts.count(True)
        entry.failed += verdicts.count(False)


def summaries(names: Sequence[str], stats: Mapping[str, MetricStats]) -> list[MetricSummary]:
    """One summary per metric: the run's metrics in plan order (count 0 when no result carried
    it yet), then any other metric found in the statistics, by name."""
    ordered = [*names, *sorted(set(stats) - set(names))]
    return [stats.get(name, MetricStats()).summary(name) for name in ordered]
