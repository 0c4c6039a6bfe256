"""Completion calls for other services (the evaluator's judge): one call through the same
dependable path as a run's calls (``ProviderCalls``: breaker, adaptive concurrency, the shared
rate-limit schedule, retries, timeout, metrics), costed with the model's catalog price.

Nothing is recorded here: the caller records the call's usage and cost with what it was for
(the evaluator's ``ResultEvaluated.judgements``), so run-orchestrator keeps no second ledger.
"""

from __future__ import annotations

import time
from typing import Protocol

from promptworks_contracts.api.completions import CompletionCallAnswer, CompletionCallRequest
from promptworks_contracts.projects import DEFAULT_PROJECT
from promptworks_contracts.values import ModelPricing, ModelRef
from promptworks_eventkit.errors import DomainError
from run_orchestrator.domain.cost import call_cost
from run_orchestrator.domain.rendering import Message
from run_orchestrator.execution.calls import ProviderCalls
from run_orchestrator.providers.base import CompletionRequest, ModelProvider, ProviderError

MAX_ERROR_CHARS = 1000


class CompletionProviders(Protocol):
    def get(self, project: str, name: str) -> ModelProvider | None: ...

    def names(self, project: str) -> list[str]: ...

    def pricing(self, project: str, model: ModelRef) -> ModelPricing | None: ...


def configured_provider(providers: CompletionProviders, project: str, name: str) -> ModelProvider:
    """The provider ``name`` in ``project``'s catalog; a 422 naming ``provider`` otherwise."""
    provider = providers.get(project, name)
    if provider is None:
        raise DomainError(
            f"provider {name!r} is not configured; "
            f"configured providers: {providers.names(project)}",
            field="provider",
            rule="unknown_provider",
        )
    return provider


class CompletionCalls:
    def __init__(
        self, providers: CompletionProviders, calls: ProviderCalls, *, concurrency: int
    ) -> None:
        self._providers = providers
        self._calls = calls
        self._concurrency = concurrency

    async def complete(
        self, call: CompletionCallRequest, project: str = DEFAULT_PROJECT
    ) -> CompletionCallAnswer:
        """``project``: whose catalog names the provider (the caller's ``X-Project``)."""
        provider = configured_provider(self._providers, project, call.provider)
        model = ModelRef(provider=call.provider, name=call.model)
        request = CompletionRequest(
            model=model,
            parameters=call.parameters,
            messages=[Message(m.role, m.content) for m in call.messages],
            case_index=0,
            repetition=1,
            response_format=call.response_format,
        )
        started = time.perf_counter()
        try:
            completion = await self._calls.complete(provider, request, self._concurrency)
        except ProviderError as error:  # after the retries; the message holds no key
            return CompletionCallAnswer(
                error=str(error)[:MAX_ERROR_CHARS],
                latency_ms=(time.perf_counter() - started) * 1000.0,
            )
        return CompletionCallAnswer(
            output=completion.output,
            usage=completion.usage,
            cost=call_cost(completion.usage, self._providers.pricing(project, model)),
            latency_ms=(time.perf_counter() - started) * 1000.0,
            finish_reason=completion.finish_reason,
        )
