"""Response bodies of the run endpoints (kept apart from the read-model tables and the events).

Field names follow the original PromptWorks backend where it had the field (``current_version``,
``versions``, ``model_name``, ``temperature``, ``status`` ...), so its frontend keeps working.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, computed_field

from promptworks_contracts.values import (
    AssertionFailure,
    EvaluatorPin,
    Judgement,
    Money,
    OutputChecks,
)

RunStatus = Literal["queued", "running", "completed", "failed", "cancelled"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


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
    failure_reason: str | None = Field(
        description="Why the run failed or was cancelled (for example its budget was reached)"
    )
    cancelled_by: str | None = Field(default=None, description="Who cancelled it, if someone did")
    label: str | None = Field(
        default=None, description="The label the version was resolved from, if the run named one"
    )
    cost: MoneyOut | None = Field(
        default=None, description="Spend so far (final once finished); null: price unknown"
    )
    estimated_cost: MoneyOut | None = Field(default=None, description="Estimated at creation")
    budget: MoneyOut | None = Field(default=None, description="Spend at which the run stops")
    retry_of: UUID | None = Field(
        default=None, description="The run whose failed calls this run makes again"
    )
    evaluator: EvaluatorPin | None = Field(
        default=None,
        description="The evaluator version the run is evaluated with (pinned at creation); "
        "null: inline assertions",
    )
    recorded: int = Field(description="Results recorded so far")
    succeeded: int
    failed: int
    notes: str | None
    metadata: dict[str, Any] | None = Field(
        default=None, description="Free JSON given when the run was created, as it was sent"
    )
    batch_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    evaluation_summary: dict[str, Any] | None = Field(
        description="Once every result is evaluated: `evaluated`, `summaries` (per metric: "
        "count, mean, std, mean_interval, min, max, pass_rate, pass_rate_interval), `passed`, "
        "`pass_rate` and `pass_rate_interval` (Wilson), `latency` (mean, p50, p95, p99, max), "
        "`tokens`, `cost`, `uncosted`, `cases` (flakiness, pass@k, consistency), `judge_cost`, "
        "`judge_tokens`, `evaluated_at`"
    )
    stream_version: int

    @computed_field(description="When the run last changed state (the original API's field)")
    def updated_at(self) -> datetime:
        return self.finished_at or self.started_at or self.created_at


class MoneyOut(_Out):
    amount: Decimal = Field(description='Exact, as a string: `"0.00125"`')
    currency: str


def money(amount: Decimal | None, currency: str | None) -> MoneyOut | None:
    if amount is None or currency is None:
        return None
    return money_out(amount, currency)


def money_out(amount: Decimal, currency: str) -> MoneyOut:
    """One spelling per amount (``0.00125``): the contracts' ``Money`` makes it canonical."""
    canonical = Money(amount=amount, currency=currency)
    return MoneyOut(amount=canonical.amount, currency=canonical.currency)


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
    cost: MoneyOut | None = None
    cached: bool = Field(default=False, description="Answered from the response cache")
    metrics: list[MetricOut]
    passed: bool | None = Field(
        default=None,
        description="The verdict: the call succeeded and every weighted assertion passed "
        "(null until evaluated)",
    )
    score: float | None = Field(
        default=None, description="Weighted share of the weighted assertions that passed"
    )
    reasons: list[AssertionFailure] = Field(
        default_factory=list, description="Why it failed: each failed assertion, by how much"
    )
    judgements: list[Judgement] = Field(
        default_factory=list,
        description="Each LLM judge's scores and reasons per dimension, or its judge error",
    )
    output_checks: OutputChecks | None = Field(
        default=None, description="The original product's output metrics, where they apply"
    )

    @computed_field(description="As `run_id` (the original API's name)")
    def test_run_id(self) -> UUID:
        return self.run_id

    @computed_field(description="As `total_tokens` (the original API's name)")
    def tokens_used(self) -> int:
        return self.total_tokens
