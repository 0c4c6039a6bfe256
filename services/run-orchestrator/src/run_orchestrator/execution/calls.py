"""One model call made dependable: limits, retries, timeout, circuit breaker, metrics.

Per attempt, in this order:
1. the provider's circuit breaker admits it (an open circuit is a retryable failure that
   waits out the cooldown; no request is sent);
2. a slot of the (provider, model)'s adaptive concurrency (AIMD: halves on 429, creeps back;
   a 429's Retry-After holds every new call of the pair until then);
3. the shared requests/min and tokens/min schedule (every replica together), when the model
   has limits: the attempt starts when its slot comes; tokens are settled after the call;
4. the call, under the per-call timeout.

429, 5xx, timeouts and connection errors are retried up to ``max_retries`` times with full
jitter backoff, at least the provider's Retry-After. After the last attempt the failure is
raised (``ProviderError``, a recordable message without keys) and the runner records a failed
result. RateLimiterUnavailableError is not a call failure: it stops the run, which resumes.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

from run_orchestrator.domain.catalog import ModelLimits
from run_orchestrator.domain.rendering import prompt_text
from run_orchestrator.execution.backoff import backoff_seconds
from run_orchestrator.execution.breaker import CircuitBreaker
from run_orchestrator.execution.concurrency import AdaptiveConcurrency
from run_orchestrator.execution.limits import (
    CallCost,
    SharedRateLimiter,
    call_cost,
    estimate_tokens,
)
from run_orchestrator.execution.metrics import (
    PROVIDER_CALL_DURATION,
    PROVIDER_CALLS,
    PROVIDER_RETRIES,
    PROVIDER_TOKENS,
    label,
)
from run_orchestrator.providers.base import (
    Completion,
    CompletionRequest,
    FailureKind,
    ModelProvider,
    ProviderError,
)
from run_orchestrator.settings import MOCK_PROVIDER, ProviderConfig, RunOrchestratorSettings

OUTCOMES: dict[FailureKind, str] = {"rate_limited": "rate_limited", "timeout": "timeout"}
BREAKER_FAILURES: frozenset[FailureKind] = frozenset(
    {"server", "timeout", "connection", "malformed"}
)


@dataclass(frozen=True)
class CallPolicy:
    max_retries: int
    retry_base: float
    retry_cap: float
    timeout: float | None
    breaker_failures: int
    breaker_cooldown: float
    concurrency: int
    limits: ModelLimits


def policy_for(
    settings: RunOrchestratorSettings,
    config: ProviderConfig | None,
    model: str,
    run_concurrency: int,
) -> CallPolicy:
    """The call policy of ``model`` on a provider built from ``config`` (None: the built-in
    mock, whose models may have limits in MOCK_MODELS but nothing to retry)."""
    if config is None:
        spec = settings.mock_models.get(model)
        mock_limits = spec.limits if spec is not None else ModelLimits()
        concurrency = mock_limits.max_concurrency or run_concurrency
        return CallPolicy(0, 0.1, 1.0, None, 1_000_000, 1.0, concurrency, mock_limits)
    limits = effective_limits(config, model)
    return CallPolicy(
        max_retries=config.max_retries,
        retry_base=config.retry_base_seconds,
        retry_cap=config.retry_max_seconds,
        timeout=config.timeout_seconds,
        breaker_failures=config.breaker_failures,
        breaker_cooldown=config.breaker_cooldown_seconds,
        concurrency=limits.max_concurrency or run_concurrency,
        limits=limits,
    )


def provider_config(provider: ModelProvider) -> ProviderConfig | None:
    """The configuration an SDK provider was built from (PROVIDERS or the API's catalog);
    None for the mock and for providers without one."""
    config = getattr(provider, "config", None)
    return config if isinstance(config, ProviderConfig) else None


def effective_limits(config: ProviderConfig, model: str) -> ModelLimits:
    """The model's limits, each falling back to the provider's."""
    spec = config.models.get(model)
    own = spec.limits if spec is not None else ModelLimits()
    base = config.limits
    return ModelLimits(
        requests_per_minute=own.requests_per_minute or base.requests_per_minute,
        tokens_per_minute=own.tokens_per_minute or base.tokens_per_minute,
        max_concurrency=own.max_concurrency or base.max_concurrency,
    )


class ProviderCalls:
    """One per process: the breakers, concurrency gates and the shared limiter of all runs."""

    def __init__(
        self,
        settings: RunOrchestratorSettings,
        limiter: SharedRateLimiter | None,
        draw: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._limiter = limiter
        self._draw = draw or random.Random()
        self._policies: dict[tuple[str, str, int], tuple[ProviderConfig | None, CallPolicy]] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        self._gates: dict[tuple[str, str], AdaptiveConcurrency] = {}

    def gate(self, provider: str, model: str) -> AdaptiveConcurrency | None:
        return self._gates.get((provider, model))

    async def complete(
        self, provider: ModelProvider, request: CompletionRequest, run_concurrency: int
    ) -> Completion:
        name, model = request.model.provider, request.model.name
        config = provider_config(provider)
        cached = self._policies.get((name, model, run_concurrency))
        if cached is not None and cached[0] is config:
            policy = cached[1]
        else:  # first call, or the provider was rebuilt from a changed catalog entry
            policy = policy_for(self._settings, config, model, run_concurrency)
            self._policies[(name, model, run_concurrency)] = (config, policy)
        breaker = self._breakers.get(name)
        if breaker is None:
            breaker = CircuitBreaker(policy.breaker_failures, policy.breaker_cooldown)
            self._breakers[name] = breaker
        gate = self._gates.get((name, model))
        if gate is None:
            gate = AdaptiveConcurrency(policy.concurrency)
            self._gates[(name, model)] = gate
        cost = self._cost(policy, request)
        labels = (label(name), label(model))
        retry = 0
        while True:
            try:
                return await self._attempt(provider, request, policy, breaker, gate, cost, labels)
            except ProviderError as error:
                if not error.retryable or retry >= policy.max_retries:
                    raise
                retry += 1
                PROVIDER_RETRIES.labels(*labels, error.kind).inc()
                await asyncio.sleep(
                    backoff_seconds(
                        retry,
                        base=policy.retry_base,
                        cap=policy.retry_cap,
                        retry_after=error.retry_after,
                        draw=self._draw,
                    )
                )

    def _cost(self, policy: CallPolicy, request: CompletionRequest) -> CallCost | None:
        if self._limiter is None:
            return None
        tokens = estimate_tokens(
            len(prompt_text(request.messages)),
            request.parameters.max_tokens,
            self._settings.completion_token_estimate,
        )
        return call_cost(policy.limits, tokens, self._settings.rate_limit_headroom)

    async def _attempt(
        self,
        provider: ModelProvider,
        request: CompletionRequest,
        policy: CallPolicy,
        breaker: CircuitBreaker,
        gate: AdaptiveConcurrency,
        cost: CallCost | None,
        labels: tuple[str, str],
    ) -> Completion:
        wait = breaker.admit()
        if wait is not None:
            raise ProviderError(
                f"circuit open for provider {labels[0]!r}: it failed repeatedly",
                kind="circuit_open",
                retry_after=wait,
            )
        healthy: bool | None = None
        key = f"{labels[0]}/{labels[1]}"
        epoch = await gate.acquire()
        try:
            if cost is not None and self._limiter is not None:
                await self._limiter.acquire(key, cost.seconds)
            started = time.perf_counter()
            try:
                completion = await self._call(provider, request, policy.timeout)
            except ProviderError as error:
                PROVIDER_CALL_DURATION.labels(*labels).observe(time.perf_counter() - started)
                PROVIDER_CALLS.labels(*labels, OUTCOMES.get(error.kind, "error")).inc()
                if error.kind == "rate_limited":
                    gate.rate_limited(epoch)
                    if error.retry_after:
                        gate.hold(min(error.retry_after, policy.retry_cap))
                elif error.kind in BREAKER_FAILURES:
                    healthy = False
                raise
            except Exception:  # not a provider's answer (a bug): counted, not retried
                PROVIDER_CALLS.labels(*labels, "error").inc()
                raise
            PROVIDER_CALL_DURATION.labels(*labels).observe(time.perf_counter() - started)
            PROVIDER_CALLS.labels(*labels, "ok").inc()
            usage = completion.usage
            PROVIDER_TOKENS.labels(*labels, "prompt").inc(usage.prompt_tokens)
            PROVIDER_TOKENS.labels(*labels, "completion").inc(usage.completion_tokens)
            healthy = True
            gate.succeeded()
        finally:
            gate.release()
            if healthy is True:
                breaker.succeeded()
            elif healthy is False:
                breaker.failed()
            else:
                breaker.released()
        if cost is not None and self._limiter is not None:
            # After the slot is free: the settlement's round trip delays no other call.
            await self._limiter.adjust(key, cost.settled(completion.usage.total_tokens))
        return completion

    @staticmethod
    async def _call(
        provider: ModelProvider, request: CompletionRequest, timeout: float | None
    ) -> Completion:
        if timeout is None or provider.kind == MOCK_PROVIDER:
            return await provider.complete(request)
        try:
            async with asyncio.timeout(timeout):
                return await provider.complete(request)
        except TimeoutError:
            raise ProviderError(
                f"TimeoutError: no answer within {timeout:g} s", kind="timeout"
            ) from None
