"""Commands: what a caller asks run-orchestrator to do (plain, validated data)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from promptworks_contracts.values import Assertion, ModelParameters, ModelRef

MAX_CASES = 10_000
MAX_REPETITIONS = 50
MAX_CALLS = 100_000
"""Model calls one run may make (cases times repetitions): larger work is several runs (a batch)."""


class CreateRun(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt_version_id: UUID
    model: ModelRef
    parameters: ModelParameters
    repetitions: int = Field(default=1, ge=1, le=MAX_REPETITIONS)
    cases: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_CASES)
    assertions: list[Assertion] = Field(default_factory=list)
    notes: str | None = None
    batch_id: str | None = None
