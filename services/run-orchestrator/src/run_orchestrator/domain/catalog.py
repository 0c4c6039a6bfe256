"""What run-orchestrator knows about a model beyond its name: size, price and limits.

Limits are the provider's published quotas for one API key. They hold for all orchestrator
replicas together (see execution's rate limiter), so two replicas never exceed them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from promptworks_contracts.values import ModelPricing


class ModelLimits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    requests_per_minute: int | None = Field(default=None, ge=1, le=10_000_000)
    tokens_per_minute: int | None = Field(default=None, ge=1, le=1_000_000_000)
    max_concurrency: int | None = Field(
        default=None, ge=1, le=10_000, description="Calls in flight at once, per replica."
    )


class ModelSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    context_length: int | None = Field(default=None, ge=1, le=100_000_000)
    pricing: ModelPricing | None = None
    limits: ModelLimits = ModelLimits()
