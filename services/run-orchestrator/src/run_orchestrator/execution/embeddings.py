"""Embedding calls for other services (the evaluator's ``embedding_similarity`` check): texts
embedded through the same dependable path as a run's calls (``ProviderCalls.embed``: breaker,
adaptive concurrency, the shared rate-limit schedule, retries, timeout), priced by their input
tokens with the model's catalog price. Nothing is recorded here (as for completions, the caller
records the spend with what it was for)."""

from __future__ import annotations

import time

from promptworks_contracts.api.embeddings import EmbeddingCallAnswer, EmbeddingCallRequest
from promptworks_contracts.projects import DEFAULT_PROJECT
from promptworks_contracts.values import ModelRef
from promptworks_eventkit.errors import DomainError
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


class EmbeddingCalls:
    def __init__(
        self, providers: CompletionProviders, calls: ProviderCalls, *, concurrency: int
    ) -> None:
        self._providers = providers
        self._calls = calls
        self._concurrency = concurrency

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
        try:
            embeddings = await self._calls.embed(
                embedder, EmbeddingRequest(model=model, inputs=list(call.inputs)), self._concurrency
            )
        except ProviderError as error:  # after the retries; the message holds no key
            return EmbeddingCallAnswer(
                error=str(error)[:MAX_ERROR_CHARS],
                latency_ms=(time.perf_counter() - started) * 1000.0,
            )
        return EmbeddingCallAnswer(
            vectors=embeddings.vectors,
            usage=embeddings.usage,
            cost=call_cost(embeddings.usage, self._providers.pricing(project, model)),
            latency_ms=(time.perf_counter() - started) * 1000.0,
        )
