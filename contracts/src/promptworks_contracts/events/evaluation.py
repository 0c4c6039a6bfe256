"""Events of the evaluation aggregate (stream id = run id), emitted by the evaluator.

A run's stream holds its first evaluation (made as its results arrive; ``evaluation_id`` null)
and then each re-evaluation of its stored results with an evaluator version:
``EvaluationRequested``, the re-evaluation's ``ResultEvaluated`` events and its
``RunEvaluated``, all carrying its ``evaluation_id``. One stream per run keeps them in order, so
"the latest evaluation" is the last one in the stream."""

from __future__ import annotations

from typing import Any, ClassVar
from uuid import UUID

from pydantic import Field

from promptworks_contracts.events.base import DomainEvent
from promptworks_contracts.topics import EVALUATION_EVENTS
from promptworks_contracts.values import (
    Assertion,
    AssertionFailure,
    CaseStatistics,
    EmbeddingComparison,
    EvaluatorPin,
    Interval,
    Judgement,
    LatencySummary,
    MetricSummary,
    MetricValue,
    Money,
    OutputChecks,
    TokenUsage,
)


class _EvaluationEvent(DomainEvent):
    topic: ClassVar[str] = EVALUATION_EVENTS
    run_id: UUID

    def stream_id(self) -> str:
        return str(self.run_id)


class ResultEvaluated(_EvaluationEvent):
    event_type: ClassVar[str] = "promptworks.evaluation.result_evaluated.v1"
    result_id: UUID
    evaluation_id: UUID | None = Field(
        default=None, description="The re-evaluation it belongs to; null: the run's first."
    )
    metrics: list[MetricValue] = Field(default_factory=list)
    passed: bool | None = Field(
        default=None,
        description="The call succeeded and every assertion of weight > 0 passed "
        "(null in events written before verdicts existed).",
    )
    score: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Weighted mean of the assertions' scores (null without weighted assertions).",
    )
    reasons: list[AssertionFailure] = Field(
        default_factory=list, description="What made it fail: each failed assertion, by how much."
    )
    parsed_output: Any = Field(default=None, description="The output as JSON, when it is JSON.")
    output_checks: OutputChecks | None = Field(
        default=None,
        description="The original product's metrics, when the run gives an expected output or "
        "a JSON Schema.",
    )
    judgements: list[Judgement] = Field(
        default_factory=list, description="Each judge assertion's scores and reasons (or error)."
    )
    embeddings: list[EmbeddingComparison] = Field(
        default_factory=list,
        description="Each embedding assertion's similarity (or error) and what it cost.",
    )


class RunEvaluated(_EvaluationEvent):
    """Every result of a finished run has been evaluated; the summary per metric and, since
    verdicts exist, the run's statistics (all optional)."""

    event_type: ClassVar[str] = "promptworks.evaluation.run_evaluated.v1"
    evaluation_id: UUID | None = Field(
        default=None, description="The re-evaluation it concludes; null: the run's first."
    )
    evaluated: int = Field(ge=0)
    summaries: list[MetricSummary] = Field(default_factory=list)
    passed: int | None = Field(default=None, ge=0, description="Results that passed.")
    pass_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    pass_rate_interval: Interval | None = Field(
        default=None, description="95 % Wilson score interval of `pass_rate`."
    )
    latency: LatencySummary | None = None
    tokens: TokenUsage | None = Field(default=None, description="Summed over the results.")
    cost: Money | None = Field(
        default=None, description="Sum of the results' costs; null when none had one."
    )
    uncosted: int | None = Field(
        default=None, ge=0, description="Results without a cost (unpriced, or another currency)."
    )
    cases: CaseStatistics | None = None
    judge_cost: Money | None = Field(
        default=None,
        description="What the evaluation's model calls (judges, embeddings) cost; null: none, "
        "or unpriced.",
    )
    judge_tokens: TokenUsage | None = Field(
        default=None, description="Tokens of the judge calls; null: the run has no judge."
    )


class EvaluationRequested(_EvaluationEvent):
    """A finished run is evaluated again, without calling its model again: its recorded results
    with this evaluator version. Its ``ResultEvaluated`` and ``RunEvaluated`` follow in the
    stream; the earlier evaluations are kept."""

    event_type: ClassVar[str] = "promptworks.evaluation.requested.v1"
    evaluation_id: UUID
    evaluator: EvaluatorPin
    assertions: list[Assertion] = Field(description="The pinned version's assertions.")
    actor: str = Field(default="", description="Who asked.")
