"""Events of the evaluation aggregate (stream id = run id), emitted by the evaluator."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import Field

from promptworks_contracts.events.base import DomainEvent
from promptworks_contracts.topics import EVALUATION_EVENTS
from promptworks_contracts.values import MetricSummary, MetricValue


class _EvaluationEvent(DomainEvent):
    topic: ClassVar[str] = EVALUATION_EVENTS
    run_id: UUID

    def stream_id(self) -> str:
        return str(self.run_id)


class ResultEvaluated(_EvaluationEvent):
    event_type: ClassVar[str] = "promptworks.evaluation.result_evaluated.v1"
    result_id: UUID
    metrics: list[MetricValue] = Field(default_factory=list)


class RunEvaluated(_EvaluationEvent):
    """Every result of a finished run has been evaluated; the summary per metric."""

    event_type: ClassVar[str] = "promptworks.evaluation.run_evaluated.v1"
    evaluated: int = Field(ge=0)
    summaries: list[MetricSummary] = Field(default_factory=list)
