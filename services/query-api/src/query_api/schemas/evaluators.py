"""Answers of ``/api/v1/evaluators``: definitions, their versions and their history."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from promptworks_contracts.values import Assertion


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
