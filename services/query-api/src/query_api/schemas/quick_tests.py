"""Response bodies of the quick-test history: one call made to try a prompt version."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from query_api.schemas.runs import MoneyOut


class QuickTestUsageOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class QuickTestOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: UUID = Field(description="The `quick_test_id` that `POST /quick-test` answered")
    prompt_id: UUID
    prompt_version_id: UUID
    prompt_version_number: int
    label: str | None = Field(description="The label the version was asked by, if any")
    provider: str
    model_name: str
    parameters: dict[str, Any] = Field(description="Every sampling parameter the call used")
    variables: dict[str, Any]
    output: str | None = Field(description="null when the call failed")
    error: str | None = Field(description="Why the call failed; null when it succeeded")
    usage: QuickTestUsageOut
    cost: MoneyOut | None = Field(description="null on a model without a price")
    latency_ms: float
    finish_reason: str | None
    streamed: bool = Field(description="Answered as server-sent events")
    actor: str = Field(description="Who made the call")
    created_at: datetime
