"""HTTP response bodies of run-orchestrator (the request bodies are in ``requests``)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from promptworks_contracts.values import ModelParameters, ModelPricing, ModelRef, Money
from promptworks_eventkit.http import PositionOut


class RunCreatedResponse(BaseModel):
    run_id: UUID
    status: Literal["queued"]
    total_calls: int
    prompt_version_id: UUID = Field(description="The version the run uses (resolved).")
    label: str | None = None
    model: ModelRef = Field(description="The model the run calls (resolved).")
    parameters: ModelParameters
    pricing: ModelPricing | None = Field(description="Snapshotted; null: the price is unknown.")
    estimated_cost: Money | None = Field(
        description="Before any call: rendered prompts at ~4 characters per token, and "
        "`max_tokens` (else 256) output tokens per call. Null when the price is unknown."
    )
    stream_version: int = Field(
        description="The run stream's version after RunCreated (kept for compatibility; "
        "`positions` is the answer readers wait on)"
    )
    positions: list[PositionOut] = Field(
        description="Every stream the command appended to: what query-api waits on "
        "(read your writes)"
    )


class CancelRunResponse(BaseModel):
    run_id: UUID
    status: Literal["cancelled", "cancelling"] = Field(
        description="`cancelled`: it had not started; `cancelling`: its executor stops it "
        "within a second, keeping the results already recorded."
    )
    positions: list[PositionOut]


class BatchRunOut(BaseModel):
    run_id: UUID
    prompt_version_id: UUID
    prompt_version_number: int
    model: ModelRef
    parameters: ModelParameters
    parameter_set: int
    total_calls: int
    estimated_cost: Money | None


class BatchCreatedResponse(BaseModel):
    batch_id: UUID
    status: Literal["queued"]
    total_calls: int
    runs: list[BatchRunOut] = Field(description="One run per cell, version-major order.")
    positions: list[PositionOut]
