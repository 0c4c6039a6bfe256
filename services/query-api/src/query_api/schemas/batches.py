"""Response bodies of the batch endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from query_api.schemas.runs import MoneyOut, RunStatus

BatchStatus = Literal["queued", "running", "completed", "failed", "cancelled"]


class BatchCellOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: UUID
    prompt_version_id: UUID
    prompt_version_number: int
    provider: str
    model_name: str
    parameters: dict[str, Any]
    parameter_set: int = Field(description="Index of the request's parameter set")
    status: RunStatus | None = Field(description="null until the run is projected")
    total_calls: int
    recorded: int
    succeeded: int
    failed: int
    cost: MoneyOut | None
    evaluation_summary: dict[str, Any] | None


class BatchOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: UUID
    name: str | None
    status: BatchStatus = Field(
        description="queued until a run starts; running while any is unfinished; then "
        "completed (some run completed), failed (all failed) or cancelled (all cancelled)"
    )
    total_calls: int
    recorded: int = Field(description="Results recorded so far, over every run")
    progress: float = Field(ge=0, le=1, description="recorded / total_calls")
    cost: list[MoneyOut] = Field(description="Spend so far, one amount per currency")
    created_at: datetime
    cells: list[BatchCellOut] = Field(description="One run per cell, version-major order")
    stream_version: int
