"""The evaluator's own Prometheus metrics (the shared ones are in ``promptworks_eventkit``)."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter

from promptworks_contracts.events import ResultRecorded
from promptworks_eventkit.messages import ReceivedEvent

RESULTS_EVALUATED = Counter(
    "promptworks_evaluator_results_evaluated_total",
    "Model results evaluated (their metrics committed and a ResultEvaluated event recorded)",
)


def count_evaluated(applied: Sequence[ReceivedEvent]) -> None:
    """Told each committed batch of the evaluation consumer."""
    RESULTS_EVALUATED.inc(sum(isinstance(item.event, ResultRecorded) for item in applied))
