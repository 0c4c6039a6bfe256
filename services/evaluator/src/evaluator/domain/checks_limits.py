"""Checks on how the call went rather than what it said: latency and cost thresholds. Both
judge failed calls too (a failed call still took time and may have cost money)."""

from __future__ import annotations

from evaluator.domain.subject import PASSED, Check, Outcome, Subject
from promptworks_contracts.values import MaxCostAssertion, MaxLatencyAssertion


def max_latency_ms(assertion: MaxLatencyAssertion) -> Check:
    threshold = assertion.threshold

    def check(subject: Subject) -> Outcome:
        if subject.latency_ms <= threshold:
            return PASSED
        return Outcome(
            False,
            f"latency {subject.latency_ms:.0f} ms > {threshold:g} ms",
            measured=subject.latency_ms,
        )

    return check


def max_cost(assertion: MaxCostAssertion) -> Check:
    threshold, currency = assertion.threshold, assertion.currency

    def check(subject: Subject) -> Outcome:
        cost = subject.cost
        if cost is None:
            return Outcome(False, "cost unknown (the model has no price)")
        if cost.currency != currency:
            return Outcome(False, f"cost in {cost.currency}, threshold in {currency}")
        if cost.amount <= threshold:
            return PASSED
        return Outcome(
            False,
            f"cost {cost.amount} {currency} > {threshold} {currency}",
            measured=float(cost.amount),
        )

    return check
