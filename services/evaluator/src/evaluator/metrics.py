"""The evaluator's own Prometheus metrics (the shared ones are in ``promptworks_eventkit``)."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter, Histogram

from promptworks_contracts.events import ResultRecorded
from promptworks_eventkit.messages import ReceivedEvent

RESULTS_EVALUATED = Counter(
    "promptworks_evaluator_results_evaluated_total",
    "Model results evaluated (their metrics committed and a ResultEvaluated event recorded)",
)

JUDGE_CALLS = Counter(
    "promptworks_evaluator_judge_calls_total",
    "Judge model calls asked of run-orchestrator, by outcome (ok: answered; error: the call "
    "failed or run-orchestrator could not be reached); re-asks count as calls",
    ["outcome"],
)
JUDGE_CALL_DURATION = Histogram(
    "promptworks_evaluator_judge_call_duration_seconds",
    "Time from asking run-orchestrator for a judge call to its answer, retries included",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)


RESULTS_QUEUED = Counter(
    "promptworks_evaluator_results_queued_total",
    "Model results this process's runs consumer queued for evaluation (any replica's workers "
    "evaluate them)",
)


def count_queued(applied: Sequence[ReceivedEvent]) -> None:
    """Told each committed batch of the runs consumer."""
    RESULTS_QUEUED.inc(sum(isinstance(item.event, ResultRecorded) for item in applied))


def count_evaluated(evaluated: int) -> None:
    """Told each committed claim of this process's evaluation workers."""
    RESULTS_EVALUATED.inc(evaluated)
