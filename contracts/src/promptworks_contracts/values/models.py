"""Models and money: which model a call uses with which parameters, its pricing and limits, and
what a call cost in tokens and money."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from pydantic import (
    Field,
    field_validator,
)

from promptworks_contracts.values._base import _Value


class ModelParameters(_Value):
    """Sampling parameters; ranges follow the OpenAI chat-completions API."""

    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    seed: int | None = None
    stop: list[str] | None = Field(default=None, max_length=4)


class ModelRef(_Value):
    """Which model a run calls. ``provider`` names a configured provider (``mock``,
    ``openai``, or any OpenAI-compatible provider set up in the run-orchestrator); never a key."""

    provider: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    name: str = Field(min_length=1, max_length=200)
    version: str | None = Field(default=None, max_length=100)


class ModelPricing(_Value):
    """What a model costs, per million tokens. Snapshotted into RunCreated, so a run's cost
    never changes when the catalog's prices do. Decimal keeps money exact; JSON carries it
    as a string (``"2.50"``)."""

    input_per_million: Decimal = Field(ge=0, max_digits=18, decimal_places=9)
    output_per_million: Decimal = Field(ge=0, max_digits=18, decimal_places=9)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")


class ModelLimits(_Value):
    """A provider's published quotas for one API key; they hold for all orchestrator replicas
    together."""

    requests_per_minute: int | None = Field(default=None, ge=1, le=10_000_000)
    tokens_per_minute: int | None = Field(default=None, ge=1, le=1_000_000_000)
    max_concurrency: int | None = Field(
        default=None, ge=1, le=10_000, description="Calls in flight at once, per replica."
    )


class ModelSpec(_Value):
    """What is known about a model beyond its name: size, price and limits."""

    context_length: int | None = Field(default=None, ge=1, le=100_000_000)
    pricing: ModelPricing | None = None
    limits: ModelLimits = ModelLimits()


class EvaluatorPin(_Value):
    """The evaluator version a run is evaluated with, resolved when the run was created."""

    evaluator_id: UUID
    version: int = Field(ge=1)


class Money(_Value):
    """An exact amount of money; JSON carries ``amount`` as a string (``"0.001250"``)."""

    amount: Decimal = Field(ge=0, max_digits=24, decimal_places=12)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")

    @field_validator("amount")
    @classmethod
    def _canonical(cls, amount: Decimal) -> Decimal:
        """One spelling per amount: ``0.00125``, never ``0.001250000000``, ``0E-12`` or
        ``1E+2``, so equal amounts compare and print equal everywhere."""
        return Decimal(format(amount.normalize(), "f"))


class TokenUsage(_Value):
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    total_tokens: int = Field(default=0, ge=0)
