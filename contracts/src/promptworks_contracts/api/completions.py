"""The internal completion call: one model call another PromptWorks service asks
run-orchestrator to make (``POST /internal/completions``), e.g. the evaluator's judge.

Service to service, not public (query-api does not forward it). The call goes through
run-orchestrator's execution layer like a run's calls: the providers' shared rate limits,
retries, circuit breaker and pricing. A call that fails after its retries is answered 200 with
``error`` (a recordable message, never a key); a request that cannot be made at all (unknown
provider) is a problem answer (4xx).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from promptworks_contracts.values import ModelParameters, Money, TokenUsage

PROVIDER_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"


class CompletionMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str = Field(max_length=200_000)


class ResponseFormat(BaseModel):
    """Structured output: the answer must be JSON valid under ``schema`` (OpenAI-compatible
    providers get ``response_format: json_schema``; others get it in the instructions)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    json_schema: dict[str, Any] = Field(alias="schema", serialization_alias="schema")


class CompletionCallRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str = Field(min_length=1, max_length=64, pattern=PROVIDER_NAME_PATTERN)
    model: str = Field(min_length=1, max_length=200)
    messages: list[CompletionMessage] = Field(min_length=1, max_length=100)
    parameters: ModelParameters = Field(default_factory=ModelParameters)
    response_format: ResponseFormat | None = None
    purpose: str = Field(
        default="judge", max_length=64, description="Who asks, for metrics and logs."
    )


class CompletionCallAnswer(BaseModel):
    model_config = ConfigDict(frozen=True)

    output: str | None = None
    error: str | None = None
    usage: TokenUsage = Field(default_factory=TokenUsage)
    cost: Money | None = Field(default=None, description="null: the model has no price.")
    latency_ms: float = Field(ge=0)
    finish_reason: str | None = None
