"""A run's evaluation plan: its assertions compiled once, applied to each of its results.

Invariants:
- Metric names are unique within a run: an assertion's name is ``assertion.name`` or
  ``<type>_<index in the run's list>``; a name already taken (by a standard metric or an
  earlier assertion) gets ``_<index>`` appended, so running statistics never mix two checks.
- A plan is a pure function of the run's ``RunCreated`` (assertions and cases), so it may be
  cached per run for as long as the process lives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from evaluator.domain.assertions import Check, Subject, prepare
from evaluator.domain.metrics import STANDARD_METRICS, standard_metrics
from promptworks_contracts.events import ResultRecorded
from promptworks_contracts.values import Assertion, MetricValue

_NO_VARIABLES: Mapping[str, Any] = {}


def assertion_names(assertions: Sequence[Assertion]) -> list[str]:
    taken = set(STANDARD_METRICS)
    names: list[str] = []
    for index, assertion in enumerate(assertions):
        name = assertion.name or f"{assertion.type}_{index}"
        if name in taken:
            name = f"{name}_{index}"
        taken.add(name)
        names.append(name)
    return names


def metric_names(assertions: Sequence[Assertion]) -> list[str]:
    """Every metric a run's results carry, in the order they are reported."""
    return [*STANDARD_METRICS, *assertion_names(assertions)]


@dataclass(frozen=True)
class RunPlan:
    checks: tuple[tuple[str, Check], ...]
    cases: tuple[Mapping[str, Any], ...]
    metric_names: tuple[str, ...]

    @classmethod
    def compile(
        cls, assertions: Sequence[Assertion], cases: Sequence[Mapping[str, Any]]
    ) -> RunPlan:
        names = assertion_names(assertions)
        return cls(
            checks=tuple(zip(names, (prepare(a) for a in assertions), strict=True)),
            cases=tuple(cases),
            metric_names=(*STANDARD_METRICS, *names),
        )

    def variables(self, case_index: int) -> Mapping[str, Any]:
        """The case's variables; none when the run has no cases or the index is outside them
        (a templated value that needs one then fails with a ``missing variable`` detail)."""
        if 0 <= case_index < len(self.cases):
            return self.cases[case_index]
        return _NO_VARIABLES

    def evaluate(self, result: ResultRecorded) -> list[MetricValue]:
        metrics = standard_metrics(result)
        if self.checks:
            subject = Subject(
                case_index=result.case_index,
                variables=self.variables(result.case_index),
                output=result.output,
                error=result.error,
                latency_ms=result.latency_ms,
            )
            for name, check in self.checks:
                passed, detail = check(subject)
                metrics.append(
                    MetricValue(
                        name=name, value=1.0 if passed else 0.0, passed=passed, detail=detail
                    )
                )
        return metrics
