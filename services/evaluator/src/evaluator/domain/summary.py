"""The statistics ``RunEvaluated`` carries besides the per-metric summaries: from the run's
result outcomes (verdicts, latencies, costs, outputs per case) and its metric statistics
(token sums). Pure; see ``run_statistics`` for the definitions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from evaluator.domain.run_statistics import (
    ResultOutcome,
    case_statistics,
    latency_summary,
    total_cost,
    wilson,
)
from evaluator.domain.stats import MetricStats
from promptworks_contracts.values import TokenUsage


def run_statistics(
    outcomes: Sequence[ResultOutcome], stats: Mapping[str, MetricStats], *, judged: bool = False
) -> dict[str, Any]:
    """The optional fields of ``RunEvaluated`` (passed, pass rate and its interval, latency,
    tokens, cost, per-case statistics; with ``judged``, the judge calls' tokens and cost)."""
    total = len(outcomes)
    passed = sum(1 for o in outcomes if o.passed)
    cost, uncosted = total_cost(outcomes)

    def token_sum(name: str) -> int:
        entry = stats.get(name)
        return round(entry.sum) if entry is not None else 0

    return {
        "passed": passed,
        "pass_rate": passed / total if total else None,
        "pass_rate_interval": wilson(passed, total),
        "latency": latency_summary([o.latency_ms for o in outcomes]),
        "tokens": TokenUsage(
            prompt_tokens=token_sum("prompt_tokens"),
            completion_tokens=token_sum("completion_tokens"),
            total_tokens=token_sum("total_tokens"),
        ),
        "cost": cost,
        "uncosted": uncosted,
        "cases": case_statistics(outcomes),
        **(_judge_statistics(outcomes) if judged else {}),
    }


def _judge_statistics(outcomes: Sequence[ResultOutcome]) -> dict[str, Any]:
    prompt = sum(o.judge_prompt_tokens for o in outcomes)
    completion = sum(o.judge_completion_tokens for o in outcomes)
    return {
        "judge_cost": total_cost(outcomes, judge=True)[0],
        "judge_tokens": TokenUsage(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        ),
    }
