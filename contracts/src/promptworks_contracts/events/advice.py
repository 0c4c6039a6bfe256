"""Events of optimisation advice (stream id = advice id), emitted by the evaluator on the
evaluation topic: a judge model is asked for advice on a finished run (``AdviceRequested``),
then either gives it (``AdviceGiven``) or could not be asked or never answered usably within
its attempts (``AdviceFailed``). An unusable answer is never recorded as advice."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import Field

from promptworks_contracts.events.base import DomainEvent
from promptworks_contracts.projects import ProjectScoped
from promptworks_contracts.topics import EVALUATION_EVENTS
from promptworks_contracts.values import ModelRef, Money, OptimisationAdvice, TokenUsage


class _AdviceEvent(DomainEvent):
    topic: ClassVar[str] = EVALUATION_EVENTS
    advice_id: UUID
    run_id: UUID

    def stream_id(self) -> str:
        return str(self.advice_id)


class AdviceRequested(_AdviceEvent, ProjectScoped):
    event_type: ClassVar[str] = "promptworks.advice.requested.v1"
    model: ModelRef = Field(description="The judge model asked.")
    focus: str | None = Field(default=None, description="What the asker wants improved.")
    prompt_id: UUID | None = None
    prompt_version_number: int | None = None
    actor: str = Field(default="", description="Who asked.")
    evaluation_id: UUID | None = Field(
        default=None,
        description="The evaluation the advice is grounded in: the run's id for its first "
        "evaluation, else the re-evaluation's id. Null in advice asked before it was recorded "
        "(grounded in the latest evaluation when it was given).",
    )


class AdviceGiven(_AdviceEvent):
    event_type: ClassVar[str] = "promptworks.advice.given.v1"
    advice: OptimisationAdvice
    attempts: int = Field(ge=1)
    usage: TokenUsage = Field(default_factory=TokenUsage)
    cost: Money | None = Field(default=None, description="All attempts; null: unpriced.")


class AdviceFailed(_AdviceEvent):
    event_type: ClassVar[str] = "promptworks.advice.failed.v1"
    error: str = Field(max_length=2000)
    attempts: int = Field(ge=0)
    usage: TokenUsage = Field(default_factory=TokenUsage)
    cost: Money | None = None
