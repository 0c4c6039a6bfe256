"""The internal embeddings call: texts another PromptWorks service asks run-orchestrator to
embed (``POST /internal/embeddings``), e.g. the evaluator's ``embedding_similarity`` check.

Service to service, like ``/internal/completions``: the call goes through run-orchestrator's
execution layer (shared rate limits, retries, circuit breaker) and is priced by its input
tokens. A call that fails after its retries is answered 200 with ``error``; a request that
cannot be made (unknown provider, a provider without embeddings) is a problem answer (4xx).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from promptworks_contracts.api.completions import PROVIDER_NAME_PATTERN
from promptworks_contracts.values import Money, TokenUsage

MAX_EMBEDDING_INPUTS = 256


class EmbeddingCallRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str = Field(min_length=1, max_length=64, pattern=PROVIDER_NAME_PATTERN)
    model: str = Field(min_length=1, max_length=200)
    inputs: list[str] = Field(min_length=1, max_length=MAX_EMBEDDING_INPUTS)
    purpose: str = Field(default="embedding", max_length=64)


class EmbeddingCallAnswer(BaseModel):
    model_config = ConfigDict(frozen=True)

    vectors: list[list[float]] = Field(
        default_factory=list, description="One per input, in order; empty with `error`."
    )
    error: str | None = None
    usage: TokenUsage = Field(default_factory=TokenUsage)
    cost: Money | None = Field(default=None, description="null: the model has no price.")
    cached: int = Field(
        default=0,
        ge=0,
        description="How many inputs were answered from the shared embedding cache; usage and "
        "cost are those of the others.",
    )
    latency_ms: float = Field(ge=0)
