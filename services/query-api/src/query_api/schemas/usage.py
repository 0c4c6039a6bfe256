"""Response bodies of the usage endpoints: calls, tokens and cost of model calls (runs' results
and quick tests)."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from query_api.schemas.runs import MoneyOut


class UsageFigures(BaseModel):
    model_config = ConfigDict(frozen=True)

    calls: int = Field(description="Model calls recorded (cached answers included)")
    failed_calls: int
    cached_calls: int = Field(description="Answered from the response cache (no cost)")
    quick_test_calls: int = Field(description="Quick tests (`POST /quick-test`) among the calls")
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost: list[MoneyOut] = Field(description="Exact spend, one amount per currency")
    uncosted_calls: int = Field(description="Calls on a model without a price (no cost known)")


class UsageGroup(UsageFigures):
    provider: str | None = None
    model_name: str | None = None
    prompt_id: UUID | None = None


class UsagePoint(UsageFigures):
    day: date = Field(description="UTC day")


class UsageOverview(BaseModel):
    model_config = ConfigDict(frozen=True)

    start: datetime | None
    end: datetime | None
    totals: UsageFigures
    by_model: list[UsageGroup] = Field(description="Per provider and model, most calls first")
    by_prompt: list[UsageGroup] = Field(description="Per prompt, most calls first")


class UsageSeries(BaseModel):
    model_config = ConfigDict(frozen=True)

    start: datetime | None
    end: datetime | None
    points: list[UsagePoint] = Field(description="One per UTC day with calls, oldest first")
