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
import contextlib
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from promptworks_contracts.values import ModelRef, TokenUsage
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
    EmbeddingProvider,
    EmbeddingRequest,
    Embeddings,
    FailureKind,
    ModelProvider,
    ProviderError,
)
from run_orchestrator.providers.streaming import StreamPart, stream_completion
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


def provider_config(provider: object) -> ProviderConfig | None:
    """The configuration an SDK provider was built from (PROVIDERS or the API's catalog);
    None for the mock and for providers without one."""
    config = getattr(provider, "config", None)
    return config if isinstance(config, ProviderConfig) else None


def limits_name(provider: object, model: ModelRef) -> str:
    """Whose breaker, gates, policies and shared schedule a call uses: the SDK client's own
    name, which for another project's catalog provider names the project (``b/acme``, see
    ``providers.catalog.scoped_name``), so two projects' ``acme`` never share them."""
    name = getattr(provider, "name", None)
    return name if isinstance(name, str) else model.provider


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


@dataclass(frozen=True, slots=True)
class _Meters:
    """The metric series every successful call of a (provider, model) moves, looked up once:
    ``labels()`` costs a few microseconds each, four times per call."""

    duration: Histogram
    ok: Counter
    prompt_tokens: Counter
    completion_tokens: Counter

    @classmethod
    def of(cls, labels: tuple[str, str]) -> _Meters:
        return cls(
            PROVIDER_CALL_DURATION.labels(*labels),
            PROVIDER_CALLS.labels(*labels, "ok"),
            PROVIDER_TOKENS.labels(*labels, "prompt"),
            PROVIDER_TOKENS.labels(*labels, "completion"),
        )


@dataclass(frozen=True)
class _CallPlan:
    """What one call (all its attempts) goes through: its policy and the shared gates."""

    policy: CallPolicy
    breaker: CircuitBreaker
    gate: AdaptiveConcurrency
    cost: CallCost | None
    labels: tuple[str, str]
    meters: _Meters

    @property
    def key(self) -> str:
        return f"{self.labels[0]}/{self.labels[1]}"


class _Attempt:
    """Set by an attempt's body: how the provider answered, for the breaker."""

    healthy: bool | None = None


class ProviderCalls:
    """One per process: the breakers, concurrency gates and the shared limiter of all calls,
    a run's and a quick test's alike."""

    def __init__(
        self,
        settings: RunOrchestratorSettings,
        limiter: SharedRateLimiter | None,
        draw: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._limiter = limiter
        self._draw = draw or random.Random()
        self._configs: dict[str, ProviderConfig | None] = {}
        self._policies: dict[tuple[str, str, int], CallPolicy] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        self._gates: dict[tuple[str, str], AdaptiveConcurrency] = {}
        self._meters: dict[tuple[str, str], _Meters] = {}

    def gate(self, provider: str, model: str) -> AdaptiveConcurrency | None:
        return self._gates.get((provider, model))

    def breaker(self, provider: str) -> CircuitBreaker | None:
        return self._breakers.get(provider)

    async def complete(
        self, provider: ModelProvider, request: CompletionRequest, run_concurrency: int
    ) -> Completion:
        plan = self._plan(provider, request, run_concurrency)
        retry = 0
        while True:
            try:
                return await self._attempt(provider, request, plan)
            except ProviderError as error:
                retry = await self._before_retry(error, retry, plan)

    async def embed(
        self, provider: EmbeddingProvider, request: EmbeddingRequest, run_concurrency: int
    ) -> Embeddings:
        """Texts embedded under the same breaker, concurrency gate, shared schedule (its
        tokens estimated from the inputs' characters), retries and timeout as a completion."""
        settings = self._settings
        chars = sum(len(text) for text in request.inputs)
        plan = self._plan_for(
            provider,
            request.model,
            run_concurrency,
            lambda: estimate_tokens(chars, 1, settings.completion_token_estimate),
        )
        retry = 0
        while True:
            try:
                async with self._admitted(plan):
                    embeddings = await _timed(provider.embed(request), plan.policy.timeout)
                await self._settle(plan, embeddings.usage)
                return embeddings
            except ProviderError as error:
                retry = await self._before_retry(error, retry, plan)

    async def stream(
        self, provider: ModelProvider, request: CompletionRequest
    ) -> AsyncIterator[StreamPart]:
        """Text deltas then the Completion, under the same breaker, concurrency and shared
        limits as a run's calls. A failure before the first delta is retried like any call;
        after it, the caller has shown text, so the failure is raised as it is."""
        plan = self._plan(provider, request, run_concurrency=1)
        retry = 0
        while True:
            delivered = False
            try:
                attempt = self._streamed_attempt(provider, request, plan)
                async with contextlib.aclosing(attempt) as parts:
                    async for part in parts:
                        delivered = True
                        yield part
                return
            except ProviderError as error:
                if delivered:
                    raise
                retry = await self._before_retry(error, retry, plan)

    def _plan(
        self, provider: ModelProvider, request: CompletionRequest, run_concurrency: int
    ) -> _CallPlan:
        settings = self._settings
        return self._plan_for(
            provider,
            request.model,
            run_concurrency,
            lambda: estimate_tokens(
                len(prompt_text(request.messages)),
                request.parameters.max_tokens,
                settings.completion_token_estimate,
            ),
        )

    def _plan_for(
        self,
        provider: object,
        model_ref: ModelRef,
        run_concurrency: int,
        tokens: Callable[[], int],
    ) -> _CallPlan:
        """``tokens``: the call's estimated tokens, for the shared schedule (asked only when
        the model has limits)."""
        name, model = limits_name(provider, model_ref), model_ref.name
        config = provider_config(provider)
        if name in self._configs and self._configs[name] is not config:
            self._forget(name)  # rebuilt from a changed catalog entry: its new limits apply
        self._configs[name] = config
        policy = self._policies.get((name, model, run_concurrency))
        if policy is None:
            policy = policy_for(self._settings, config, model, run_concurrency)
            self._policies[(name, model, run_concurrency)] = policy
        breaker = self._breakers.get(name)
        if breaker is None:
            breaker = CircuitBreaker(policy.breaker_failures, policy.breaker_cooldown)
            self._breakers[name] = breaker
        gate = self._gates.get((name, model))
        if gate is None:
            gate = AdaptiveConcurrency(policy.concurrency)
            self._gates[(name, model)] = gate
        meters = self._meters.get((name, model))
        if meters is None:
            meters = self._meters[(name, model)] = _Meters.of((label(name), label(model)))
        return _CallPlan(
            policy, breaker, gate, self._cost(policy, tokens), (label(name), label(model)), meters
        )

    def _forget(self, name: str) -> None:
        """Drops a provider's policies, breaker and gates; calls in flight finish on the old
        ones, which are then unreferenced."""
        self._breakers.pop(name, None)
        for key in [key for key in self._policies if key[0] == name]:
            del self._policies[key]
        for pair in [pair for pair in self._gates if pair[0] == name]:
            del self._gates[pair]

    async def _before_retry(self, error: ProviderError, retry: int, plan: _CallPlan) -> int:
        """Raises ``error`` when it is final; else waits out the backoff, returns the count."""
        if not error.retryable or retry >= plan.policy.max_retries:
            raise error
        retry += 1
        PROVIDER_RETRIES.labels(*plan.labels, error.kind).inc()
        await asyncio.sleep(
            backoff_seconds(
                retry,
                base=plan.policy.retry_base,
                cap=plan.policy.retry_cap,
                retry_after=error.retry_after,
                draw=self._draw,
            )
        )
        return retry

    def _cost(self, policy: CallPolicy, tokens: Callable[[], int]) -> CallCost | None:
        limits = policy.limits
        if self._limiter is None or (
            limits.requests_per_minute is None and limits.tokens_per_minute is None
        ):
            return None  # no shared schedule: no token estimate to make (the prompt's size)
        return call_cost(limits, tokens(), self._settings.rate_limit_headroom)

    @contextlib.asynccontextmanager
    async def _admitted(self, plan: _CallPlan) -> AsyncIterator[_Attempt]:
        """Holds the breaker's admission, a concurrency slot and the shared schedule's slot for
        one attempt; the body reports the provider's health on the yielded _Attempt."""
        wait = plan.breaker.admit()
        if wait is not None:
            raise ProviderError(
                f"circuit open for provider {plan.labels[0]!r}: it failed repeatedly",
                kind="circuit_open",
                retry_after=wait,
            )
        attempt = _Attempt()
        epoch = await plan.gate.acquire()
        try:
            if plan.cost is not None and self._limiter is not None:
                await self._limiter.acquire(plan.key, plan.cost.seconds)
            started = time.perf_counter()
            try:
                yield attempt
            except ProviderError as error:
                PROVIDER_CALL_DURATION.labels(*plan.labels).observe(time.perf_counter() - started)
                PROVIDER_CALLS.labels(*plan.labels, OUTCOMES.get(error.kind, "error")).inc()
                if error.kind == "rate_limited":
                    plan.gate.rate_limited(epoch)
                    if error.retry_after:
                        plan.gate.hold(min(error.retry_after, plan.policy.retry_cap))
                elif error.kind in BREAKER_FAILURES:
                    attempt.healthy = False
                raise
            except Exception:  # not a provider's answer (a bug): counted, not retried
                PROVIDER_CALLS.labels(*plan.labels, "error").inc()
                raise
            plan.meters.duration.observe(time.perf_counter() - started)
            plan.meters.ok.inc()
            attempt.healthy = True
            plan.gate.succeeded()
        finally:
            plan.gate.release()
            if attempt.healthy is True:
                plan.breaker.succeeded()
            elif attempt.healthy is False:
                plan.breaker.failed()
            else:
                plan.breaker.released()

    async def _settle(self, plan: _CallPlan, usage: TokenUsage) -> None:
        plan.meters.prompt_tokens.inc(usage.prompt_tokens)
        plan.meters.completion_tokens.inc(usage.completion_tokens)
        if plan.cost is not None and self._limiter is not None:
            # After the slot is free: the settlement's round trip delays no other call.
            await self._limiter.adjust(plan.key, plan.cost.settled(usage.total_tokens))

    async def _attempt(
        self, provider: ModelProvider, request: CompletionRequest, plan: _CallPlan
    ) -> Completion:
        async with self._admitted(plan):
            completion = await self._call(provider, request, plan.policy.timeout)
        await self._settle(plan, completion.usage)
        return completion

    async def _streamed_attempt(
        self, provider: ModelProvider, request: CompletionRequest, plan: _CallPlan
    ) -> AsyncGenerator[StreamPart, None]:
        completion: Completion | None = None
        parts = _within(stream_completion(provider, request), plan.policy.timeout)
        async with self._admitted(plan), contextlib.aclosing(parts):
            async for part in parts:
                if isinstance(part, Completion):
                    completion = part
                yield part
        if completion is not None:
            await self._settle(plan, completion.usage)

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


async def _timed(call: Awaitable[Embeddings], timeout: float | None) -> Embeddings:
    if timeout is None:
        return await call
    try:
        async with asyncio.timeout(timeout):
            return await call
    except TimeoutError:
        raise ProviderError(
            f"TimeoutError: no answer within {timeout:g} s", kind="timeout"
        ) from None


async def _within(
    parts: AsyncIterator[StreamPart], timeout: float | None
) -> AsyncGenerator[StreamPart, None]:
    """The stream's parts, each awaited under the call's remaining time: the deadline covers
    the provider, never the time the consumer takes between parts."""
    if timeout is None:
        async for part in parts:
            yield part
        return
    deadline = asyncio.get_running_loop().time() + timeout
    iterator = aiter(parts)
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                part = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ProviderError(
                f"TimeoutError: no answer within {timeout:g} s", kind="timeout"
            ) from None
        yield part
