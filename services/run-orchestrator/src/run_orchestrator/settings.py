"""run-orchestrator's settings: the shared ones plus providers, execution and mock knobs.

Provider credentials are ``SecretStr``: they are read from the environment, handed to the SDK
client, and never logged, echoed by the API or written into an event.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from promptworks_contracts.api.runs import PROVIDER_NAME_PATTERN
from promptworks_eventkit.settings import ServiceSettings
from run_orchestrator.domain.catalog import ModelLimits, ModelSpec

MOCK_PROVIDER = "mock"
__all__ = ["MOCK_PROVIDER", "PROVIDER_NAME_PATTERN", "ProviderConfig", "RunOrchestratorSettings"]


class ProviderConfig(BaseModel):
    """``kind: openai``: any OpenAI-compatible endpoint (OpenAI, Azure OpenAI, DeepSeek, Qwen,
    Moonshot, Zhipu, vLLM, Ollama ...); ``kind: anthropic``: Anthropic's Messages API."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["openai", "anthropic"] = "openai"
    base_url: str | None = Field(
        default=None,
        min_length=1,
        pattern=r"^https?://",
        description="Required for openai; anthropic defaults to Anthropic's API.",
    )
    api_key: SecretStr = SecretStr("")
    timeout_seconds: float = Field(default=60.0, gt=0, description="Per call (per attempt).")
    max_retries: int = Field(
        default=4,
        ge=0,
        le=10,
        description="Retries of a call on 429, 5xx, timeouts and connection errors, by the "
        "executor (the SDK's own retries are always off).",
    )
    retry_base_seconds: float = Field(
        default=0.5, gt=0, le=60, description="Backoff: full jitter up to base * 2^(retry-1)."
    )
    retry_max_seconds: float = Field(
        default=30.0, gt=0, le=600, description="Cap of one backoff and of a Retry-After."
    )
    breaker_failures: int = Field(
        default=5, ge=1, le=1000, description="Consecutive failures that open the circuit."
    )
    breaker_cooldown_seconds: float = Field(
        default=30.0, gt=0, le=3600, description="Open time before one probe call."
    )
    max_concurrency: int | None = Field(
        default=None, ge=1, le=10_000, description="Overrides the global max_concurrency."
    )
    limits: ModelLimits = Field(
        default=ModelLimits(),
        description="Defaults for every model of this provider; a model's own limits win.",
    )
    models: dict[str, ModelSpec] = Field(
        default_factory=dict,
        description="Per model: context length, pricing and limits. A model not listed can "
        "still be called; it has no price (cost unknown) and only the provider's limits.",
    )


class RunOrchestratorSettings(ServiceSettings):
    service_name: str = "run-orchestrator"
    http_port: int = 8002
    database_url: SecretStr = SecretStr(
        "postgresql+asyncpg://promptworks:promptworks@127.0.0.1:54329/run_orchestrator"
    )
    evaluator_url: str = Field(
        default="http://127.0.0.1:8003",
        description="Where the evaluator versions runs name are resolved (EVALUATOR_URL).",
    )

    providers: dict[str, ProviderConfig] = Field(
        default_factory=dict,
        description="PROVIDERS as JSON: name -> config. `mock` is built in and always present.",
    )
    prompt_wait_seconds: float = Field(
        default=5.0,
        ge=0,
        le=120,
        description="How long POST /runs waits for a just-created prompt version to arrive.",
    )
    max_concurrency: int = Field(default=64, ge=1, le=10_000, description="Calls per run.")
    max_parallel_runs: int = Field(default=16, ge=1, le=1000, description="Runs per process.")
    flush_size: int = Field(default=500, ge=1, le=10_000)
    flush_interval_ms: float = Field(default=100.0, gt=0)
    poll_interval_seconds: float = Field(default=1.0, gt=0)
    rate_limit_headroom: float = Field(
        default=0.02,
        ge=0,
        lt=0.5,
        description="Shared rate limits are scheduled this fraction below the configured "
        "limit, so network jitter between replicas and the provider cannot push an observed "
        "window over it.",
    )
    completion_token_estimate: int = Field(
        default=512,
        ge=1,
        le=1_000_000,
        description="Completion tokens reserved for a call without max_tokens (tokens/min).",
    )
    response_cache_ttl_seconds: float = Field(
        default=7 * 24 * 3600, gt=0, description="Cached answers older than this are not used."
    )
    embedding_cache_ttl_seconds: float = Field(
        default=30 * 24 * 3600,
        ge=0,
        description="Vectors embedded for other services (the evaluator's embedding_similarity) "
        "are kept in a cache every replica shares and reused for this long; a reused vector "
        "costs nothing. 0 turns the cache off.",
    )
    progress_interval_seconds: float = Field(
        default=0.5, gt=0, le=60, description="RunProgressed at most this often per run."
    )

    provider_secret_key: SecretStr | None = Field(
        default=None,
        description="PROVIDER_SECRET_KEY: a Fernet key (32 url-safe base64 bytes) that encrypts "
        "credentials given inline to the provider catalog. Without it, catalog providers take "
        "credentials by reference only.",
    )
    provider_credential_env_pattern: str = Field(
        default=r"^[A-Z0-9_]*API_KEY[A-Z0-9_]*$",
        description="Environment variables a catalog provider may name as its credential.",
    )
    provider_secrets_dir: str = Field(
        default="/var/run/secrets/promptworks/providers",
        description="Where credential files named by catalog providers are mounted.",
    )
    allow_private_provider_urls: bool = Field(
        default=False,
        description="Let catalog providers point at loopback, private and link-local addresses "
        "(self-hosted vLLM or Ollama); off, such base URLs are refused (SSRF).",
    )
    catalog_refresh_seconds: float = Field(
        default=2.0, gt=0, le=300, description="How often a replica re-reads the catalog."
    )

    mock_latency_ms: float = Field(default=0.0, ge=0)
    mock_failure_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    mock_max_concurrency: int = Field(default=1000, ge=1, le=100_000)
    mock_models: dict[str, ModelSpec] = Field(
        default_factory=dict,
        description="MOCK_MODELS as JSON: a price (and limits) for mock models, so demos and "
        "tests see costs. Without one a mock model costs nothing.",
    )

    @field_validator("providers")
    @classmethod
    def _openai_needs_base_url(
        cls, providers: dict[str, ProviderConfig]
    ) -> dict[str, ProviderConfig]:
        for name, config in providers.items():
            if config.kind == "openai" and not config.base_url:
                raise ValueError(f"provider {name!r} (kind openai) needs a base_url")
        return providers

    @field_validator("providers")
    @classmethod
    def _valid_names(cls, providers: dict[str, ProviderConfig]) -> dict[str, ProviderConfig]:
        for name in providers:
            if name == MOCK_PROVIDER:
                raise ValueError("`mock` is built in and cannot be configured in PROVIDERS")
            if not re.fullmatch(PROVIDER_NAME_PATTERN, name) or len(name) > 64:
                raise ValueError(f"provider name {name!r} must match {PROVIDER_NAME_PATTERN}")
        return providers
