"""Commands: what a caller asks run-orchestrator to do (plain, validated data)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from promptworks_contracts.api.runs import MAX_CASES, MAX_REPETITIONS
from promptworks_contracts.values import Assertion, EvaluatorPin, ModelRef
from run_orchestrator.domain.cases import Case

MAX_CALLS = 100_000
"""Model calls one run may make (cases times repetitions): larger work is several runs (a batch)."""
LATEST = "latest"
"""The label every prompt has implicitly: its highest version number."""


class VersionSelector(BaseModel):
    """A prompt version, named directly or as a prompt and a label resolved at creation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt_version_id: UUID | None = None
    prompt_id: UUID | None = None
    label: str | None = None

    @model_validator(mode="after")
    def _one_way(self) -> VersionSelector:
        if self.prompt_version_id is None and (self.prompt_id is None or self.label is None):
            raise ValueError("name `prompt_version_id`, or `prompt_id` with a `label`")
        if self.prompt_version_id is not None and (self.label or self.prompt_id):
            raise ValueError("name either `prompt_version_id` or a `label`, not both")
        return self


class CreateRun(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: VersionSelector
    model: ModelRef | None = Field(
        default=None, description="None: the version's default model, else mock echo."
    )
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description="Parameters given by the caller; the version's defaults fill the rest.",
    )
    repetitions: int = Field(default=1, ge=1, le=MAX_REPETITIONS)
    cases: list[Case] = Field(default_factory=list, max_length=MAX_CASES)
    assertions: list[Assertion] = Field(default_factory=list)
    evaluator: EvaluatorPin | None = Field(
        default=None, description="The evaluator version `assertions` come from."
    )
    notes: str | None = None
    metadata: dict[str, Any] | None = None
    batch_id: str | None = None
    budget: Decimal | None = Field(default=None, gt=0, description="In the model's currency.")
    use_cache: bool = False


class CancelRun(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: UUID


class QuickTest(BaseModel):
    """One call to try a version: the version, the model (None: the version's default) and
    the parameters given (the version's defaults fill the rest), one case's variables."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: VersionSelector
    model: ModelRef | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    variables: dict[str, Any] = Field(default_factory=dict)
