"""Events of the run aggregate (stream id = run id), emitted by run-orchestrator."""

from __future__ import annotations

from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import Field

from promptworks_contracts.events.base import DomainEvent
from promptworks_contracts.topics import RUN_EVENTS
from promptworks_contracts.values import (
    Assertion,
    ModelParameters,
    ModelRef,
    PromptTemplate,
    TokenUsage,
)


class _RunEvent(DomainEvent):
    topic: ClassVar[str] = RUN_EVENTS
    run_id: UUID

    def stream_id(self) -> str:
        return str(self.run_id)


class RunCreated(_RunEvent):
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
    batch_id: str | None = None
    total_calls: int = Field(ge=1)


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


class RunCompleted(_RunEvent):
    """Every call has a result. The run failed when no call succeeded."""

    event_type: ClassVar[str] = "promptworks.run.completed.v1"
    status: Literal["completed", "failed"]
    succeeded: int = Field(ge=0)
    failed: int = Field(ge=0)


class RunFailed(_RunEvent):
    """The run could not go on (for example its provider is not configured)."""

    event_type: ClassVar[str] = "promptworks.run.failed.v1"
    reason: str
