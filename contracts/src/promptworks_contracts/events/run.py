"""Events of the run aggregate (stream id = run id), emitted by run-orchestrator."""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from promptworks_contracts.events.base import DomainEvent
from promptworks_contracts.projects import ProjectScoped
from promptworks_contracts.topics import RUN_EVENTS
from promptworks_contracts.values import (
    Assertion,
    EvaluatorPin,
    ModelParameters,
    ModelPricing,
    ModelRef,
    Money,
    PromptTemplate,
    TokenUsage,
)


class _RunEvent(DomainEvent):
    topic: ClassVar[str] = RUN_EVENTS
    run_id: UUID

    def stream_id(self) -> str:
        return str(self.run_id)


class RunCreated(_RunEvent, ProjectScoped):
    """Snapshots everything the run uses, so each result can be explained and reproduced."""

    event_type: ClassVar[str] = "promptworks.run.created.v1"
    prompt_id: UUID
    prompt_version_id: UUID
    prompt_version_number: int = Field(ge=1)
    template: PromptTemplate
    model: ModelRef
    parameters: ModelParameters
    repetitions: int = Field(ge=1)
    cases: list[dict[str, Any]] = Field(
        default_factory=list, description="Variable values per case; empty means one case."
    )
    assertions: list[Assertion] = Field(default_factory=list)
    notes: str | None = None
    metadata: dict[str, Any] | None = Field(
        default=None, description="Free JSON the caller kept with the run; null: none given."
    )
    batch_id: str | None = None
    total_calls: int = Field(ge=1)
    expected: list[Any] = Field(
        default_factory=list,
        description="Per case (same order as `cases`), the expected output or null; empty when "
        "no case gives one.",
    )
    case_metadata: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Per case (same order as `cases`), free metadata; empty when none is given.",
    )
    label: str | None = Field(
        default=None, description="The label the version was resolved from, if the run named one."
    )
    pricing: ModelPricing | None = Field(
        default=None, description="The model's price when the run was created; null: unknown."
    )
    estimated_cost: Money | None = Field(
        default=None, description="Estimated before any call (prompt + max output tokens)."
    )
    budget: Money | None = Field(
        default=None, description="Spend at which the run stops (RunCancelled, cause budget)."
    )
    retry_of: UUID | None = Field(
        default=None, description="The finished run whose failed calls this run makes again."
    )
    use_cache: bool = Field(
        default=False,
        description="Answers come from the shared response cache when it holds one (same "
        "rendered prompt, model, parameters, seed and repetition), and fill it.",
    )
    pairs: list[tuple[int, int]] | None = Field(
        default=None,
        description="Only these (case index, repetition) pairs are called; null: every pair.",
    )
    evaluator: EvaluatorPin | None = Field(
        default=None,
        description="The evaluator version whose assertions `assertions` are (pinned when the "
        "run was created); null: the run gave its assertions inline.",
    )


class RunStarted(_RunEvent):
    event_type: ClassVar[str] = "promptworks.run.started.v1"


class ResultRecorded(_RunEvent):
    """One model call's outcome. ``error`` is set, and ``output`` is None, when the call failed."""

    event_type: ClassVar[str] = "promptworks.run.result_recorded.v1"
    result_id: UUID
    case_index: int = Field(ge=0)
    repetition: int = Field(ge=1)
    output: str | None = None
    latency_ms: float = Field(ge=0)
    usage: TokenUsage = Field(default_factory=TokenUsage)
    finish_reason: str | None = None
    error: str | None = None
    cost: Money | None = Field(
        default=None, description="From the usage and the run's pricing; null: price unknown."
    )
    cached: bool = Field(
        default=False, description="Answered from the response cache: no call, no cost."
    )


class RunCompleted(_RunEvent):
    """Every call has a result. The run failed when no call succeeded."""

    event_type: ClassVar[str] = "promptworks.run.completed.v1"
    status: Literal["completed", "failed"]
    succeeded: int = Field(ge=0)
    failed: int = Field(ge=0)
    cost: Money | None = Field(default=None, description="Total spend; null: price unknown.")


class RunCancelled(_RunEvent):
    """The run stopped before every call was made: on request, or when its spend reached its
    budget. Results recorded before it are kept; no result follows it."""

    event_type: ClassVar[str] = "promptworks.run.cancelled.v1"
    cause: Literal["requested", "budget"]
    reason: str = Field(max_length=1000)
    cancelled_by: str | None = Field(default=None, max_length=200)
    succeeded: int = Field(ge=0)
    failed: int = Field(ge=0)
    cost: Money | None = Field(
        default=None, description="Spend of the calls made so far; null: price unknown."
    )


class RunFailed(_RunEvent):
    """The run could not go on (for example its provider is not configured)."""

    event_type: ClassVar[str] = "promptworks.run.failed.v1"
    reason: str


class BatchCell(BaseModel):
    """One cell of a batch's matrix: the run that covers it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    run_id: UUID
    prompt_version_id: UUID
    prompt_version_number: int = Field(ge=1)
    model: ModelRef
    parameters: ModelParameters
    parameter_set: int = Field(ge=0, description="Index into the request's parameter sets.")


class BatchCreated(DomainEvent, ProjectScoped):
    """A matrix of prompt versions x models x parameter sets over one case set: one run per
    cell, each created (RunCreated with this ``batch_id``) in the same transaction."""

    topic: ClassVar[str] = RUN_EVENTS
    event_type: ClassVar[str] = "promptworks.batch.created.v1"
    batch_id: UUID
    name: str | None = Field(default=None, max_length=200)
    cells: list[BatchCell] = Field(min_length=1)
    total_calls: int = Field(ge=1)

    def stream_id(self) -> str:
        return str(self.batch_id)


class RunProgressed(_RunEvent):
    """Where a running run stands, at most every ``progress_interval`` (about twice a second):
    for consumers that want live progress without reading every result."""

    event_type: ClassVar[str] = "promptworks.run.progressed.v1"
    total_calls: int = Field(ge=1)
    recorded: int = Field(ge=0)
    succeeded: int = Field(ge=0)
    failed: int = Field(ge=0)
    cost: Money | None = Field(
        default=None, description="Spend of the calls made so far; null: price unknown."
    )


class QuickTestCompleted(DomainEvent, ProjectScoped):
    """One call made to try a prompt (POST /quick-test): usage and cost, not a run. ``error``
    is set, and ``output`` is None, when the call failed."""

    topic: ClassVar[str] = RUN_EVENTS
    event_type: ClassVar[str] = "promptworks.quick_test.completed.v1"
    quick_test_id: UUID
    prompt_id: UUID
    prompt_version_id: UUID
    prompt_version_number: int = Field(ge=1)
    label: str | None = None
    model: ModelRef
    parameters: ModelParameters
    variables: dict[str, Any] = Field(default_factory=dict)
    output: str | None = None
    error: str | None = None
    usage: TokenUsage = Field(default_factory=TokenUsage)
    cost: Money | None = None
    latency_ms: float = Field(ge=0)
    finish_reason: str | None = None
    streamed: bool = False
    actor: str = ""

    def stream_id(self) -> str:
        return str(self.quick_test_id)
