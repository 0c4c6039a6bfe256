"""HTTP response bodies of the evaluator (its only API is for debugging and operations)."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from promptworks_contracts.values import MetricSummary


class RunSummaryResponse(BaseModel):
    run_id: UUID
    status: str = Field(description="running, completed or failed (as the run events said)")
    total_calls: int
    evaluated: int = Field(description="Results evaluated so far")
    stream_version: int = Field(description="Version of the run's evaluation stream")
    summaries: list[MetricSummary]
