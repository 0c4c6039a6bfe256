"""Optimisation advice on a run, as the public API answers it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from promptworks_contracts.values import ModelRef, Money, OptimisationAdvice, TokenUsage


class SavedVersion(BaseModel):
    prompt_id: UUID
    number: int


class AdviceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    run_id: UUID
    status: Literal["requested", "given", "failed"] = Field(
        description="requested until the judge model answered usably (given) or did not "
        "within its attempts (failed)"
    )
    model: ModelRef = Field(description="The judge model asked.")
    focus: str | None
    prompt_id: UUID | None = Field(description="The run's prompt, where a revision is saved.")
    prompt_version_number: int | None = Field(description="The version the run used.")
    evaluation_id: UUID | None = Field(
        default=None,
        description="The evaluation it is grounded in (the run's id: its first); null for "
        "advice asked before evaluations were pinned.",
    )
    advice: OptimisationAdvice | None = Field(
        description="overall_advice, parameter_advice, model_advice, prompt_revision (a whole "
        "template), revision_rationale, validation_plan; null unless given"
    )
    error: str | None = Field(description="Why no advice was given (failed).")
    attempts: int
    usage: TokenUsage | None
    cost: Money | None = Field(description="All attempts; null: unpriced or not finished.")
    requested_by: str
    requested_at: datetime
    finished_at: datetime | None
    saved_versions: list[SavedVersion] = Field(
        default_factory=list, description="Prompt versions saved from its revision."
    )
    stream_version: int
