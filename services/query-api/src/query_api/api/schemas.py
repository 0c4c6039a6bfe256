"""Response bodies of the public API (kept apart from the read-model tables and the events).

Field names follow the original PromptWorks backend where it had the field (``current_version``,
``versions``, ``model_name``, ``temperature``, ``status`` ...), so its frontend keeps working.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from promptworks_contracts.values import ModelParameters, ModelRef, PromptTemplate, VariableSpec

RunStatus = Literal["pending", "running", "completed", "failed"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class VersionSummary(_Out):
    id: UUID
    number: int = Field(description="1, 2, 3 ... in creation order")
    label: str | None = Field(description="Free-text version label such as v1.2")
    created_at: datetime


class PromptVersionOut(VersionSummary):
    prompt_id: UUID
    template: PromptTemplate
    variables: list[VariableSpec]
    default_model: ModelRef | None
    default_parameters: ModelParameters | None
    commit_message: str
    author: str


class PromptOut(_Out):
    id: UUID
    name: str
    description: str
    author: str
    class_name: str | None
    tags: list[str]
    current_version: PromptVersionOut | None
    versions: list[VersionSummary] = Field(description="Every version, newest first")
    version_count: int
    created_at: datetime
    updated_at: datetime = Field(description="When the prompt's latest event was recorded")
    stream_version: int = Field(description="Send as If-Match when writing to this prompt")


class RunOut(_Out):
    id: UUID
    prompt_id: UUID
    prompt_version_id: UUID
    prompt_version_number: int
    provider: str
    model_name: str
    model_version: str | None
    temperature: float | None
    top_p: float | None
    parameters: dict[str, Any] = Field(description="Every sampling parameter the run used")
    repetitions: int
    case_count: int
    total_calls: int = Field(description="case_count x repetitions")
    assertions: list[dict[str, Any]]
    status: RunStatus
    failure_reason: str | None
    recorded: int = Field(description="Results recorded so far")
    succeeded: int
    failed: int
    notes: str | None
    batch_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    evaluation_summary: dict[str, Any] | None = Field(
        description="{evaluated, summaries: [{name, count, mean, min, max, pass_rate}]} once "
        "every result is evaluated"
    )
    stream_version: int


class MetricOut(_Out):
    name: str
    value: float | None
    passed: bool | None
    detail: str | None


class ResultOut(_Out):
    id: UUID
    run_id: UUID
    case_index: int
    repetition: int
    output: str | None
    latency_ms: float
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    finish_reason: str | None
    error: str | None
    created_at: datetime
    metrics: list[MetricOut]
