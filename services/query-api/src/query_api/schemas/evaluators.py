"""Answers of ``/api/v1/evaluators``: definitions, their versions and their history."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from promptworks_contracts.values import Assertion, EvaluatorPin


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class EvaluatorVersionOut(_Out):
    evaluator_id: UUID
    version: int = Field(description="Numbered from 1 without gaps; never changes.")
    assertions: list[Assertion]
    message: str = Field(description="Why it was made.")
    actor: str = Field(description="Who made it.")
    created_at: datetime


class EvaluatorOut(_Out):
    id: UUID
    name: str
    description: str
    created_by: str
    latest_version: int
    latest: EvaluatorVersionOut | None = Field(description="The latest version in full.")
    created_at: datetime
    updated_at: datetime
    stream_version: int = Field(description="Send as If-Match when adding a version.")


class EvaluatorSummaryOut(_Out):
    id: UUID
    name: str
    description: str
    created_by: str
    latest_version: int
    created_at: datetime
    updated_at: datetime
    stream_version: int


class EvaluatorChangeOut(_Out):
    kind: Literal["created", "version_created"]
    version: int | None = Field(description="The version made (null for `created`).")
    actor: str
    message: str
    at: datetime
    stream_version: int


class EvaluationOut(_Out):
    id: UUID = Field(description="The run's id for its first evaluation.")
    run_id: UUID
    first: bool = Field(description="The evaluation made as the run's results arrived.")
    latest: bool = Field(description="What the run's results and summary show by default.")
    evaluator: EvaluatorPin | None = Field(
        description="The evaluator version it used; null: the run's inline assertions."
    )
    status: Literal["requested", "evaluated"]
    requested_by: str
    requested_at: datetime | None
    evaluated_at: datetime | None
    summary: dict[str, Any] | None = Field(
        description="As the run's `evaluation_summary` (pass rate, per-metric summaries ...)."
    )
