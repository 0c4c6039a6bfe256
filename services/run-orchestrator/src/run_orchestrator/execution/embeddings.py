"""Embedding calls for other services (the evaluator's ``embedding_similarity`` check): texts
embedded through the same dependable path as a run's calls (``ProviderCalls.embed``: breaker,
adaptive concurrency, the shared rate-limit schedule, retries, timeout), priced by their input
tokens with the model's catalog price. Nothing is recorded here (as for completions, the caller
records the spend with what it was for).

The embedding cache (shared by every replica, ``EMBEDDING_CACHE_TTL_SECONDS``): texts embedded
within the TTL by the same project, provider and model are answered from it, and only the
others are sent, each distinct text once. The answer's ``usage`` and ``cost`` are those of the
texts sent; ``cached`` counts the others (they cost nothing). The built-in mock is not cached
(its vectors are free and computed). A failed call stores nothing."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from promptworks_contracts.api.embeddings import EmbeddingCallAnswer, EmbeddingCallRequest
from promptworks_contracts.projects import DEFAULT_PROJECT
from promptworks_contracts.values import ModelRef, TokenUsage
from promptworks_eventkit.errors import DomainError
from run_orchestrator.domain.caching import embedding_key
from run_orchestrator.domain.cost import call_cost
from run_orchestrator.execution.calls import ProviderCalls
from run_orchestrator.execution.completions import (
    MAX_ERROR_CHARS,
    CompletionProviders,
    configured_provider,
)
from run_orchestrator.providers.base import (
    EmbeddingRequest,
    ProviderError,
    embedding_provider,
    no_embeddings_problem,
)


class EmbeddingCache(Protocol):
    async def vectors(
        self, keys: Sequence[str], not_before: datetime
    ) -> dict[str, list[float]]: ...

    async def store(self, vectors: Mapping[str, Sequence[float]]) -> None: ...


class EmbeddingCalls:
    def __init__(
        self,
        providers: CompletionProviders,
        calls: ProviderCalls,
        *,
        concurrency: int,
        cache: EmbeddingCache | None = None,
        cache_ttl_seconds: float = 0,
    ) -> None:
        self._providers = providers
        self._calls = calls
        self._concurrency = concurrency
        self._cache = cache if cache_ttl_seconds > 0 else None
        self._ttl = timedelta(seconds=cache_ttl_seconds)

    async def embed(
        self, call: EmbeddingCallRequest, project: str = DEFAULT_PROJECT
    ) -> EmbeddingCallAnswer:
        provider = configured_provider(self._providers, project, call.provider)
        embedder = embedding_provider(provider)
        if embedder is None:
            raise DomainError(
                no_embeddings_problem(provider.kind, call.provider),
                field="provider",
                rule="no_embeddings",
            )
        model = ModelRef(provider=call.provider, name=call.model)
        started = time.perf_counter()
        cache = None if embedder.kind == "mock" else self._cache
        keys = [embedding_key(project, call.provider, call.model, text) for text in call.inputs]
        known = await cache.vectors(keys, datetime.now(UTC) - self._ttl) if cache else {}
        # Each distinct text not in the cache is sent once (text -> its key).
        sent = {t: k for t, k in zip(call.inputs, keys, strict=True) if k not in known}
        usage, fresh = TokenUsage(), {}
        if sent:
            try:
                embeddings = await self._calls.embed(
                    embedder, EmbeddingRequest(model=model, inputs=list(sent)), self._concurrency
                )
            except ProviderError as error:  # after the retries; the message holds no key
                return EmbeddingCallAnswer(
                    error=str(error)[:MAX_ERROR_CHARS],
                    latency_ms=(time.perf_counter() - started) * 1000.0,
                )
            fresh = dict(zip(sent.values(), embeddings.vectors, strict=True))
            if cache:
                await cache.store(fresh)
            known = {**known, **fresh}
            usage = embeddings.usage
        return EmbeddingCallAnswer(
            vectors=[known[key] for key in keys],
            usage=usage,
            cost=call_cost(usage, self._providers.pricing(project, model)),
            cached=sum(1 for key in keys if key not in fresh),
            latency_ms=(time.perf_counter() - started) * 1000.0,
        )
