"""Dependable calls without PostgreSQL or Kafka: backoff, the circuit breaker, adaptive
concurrency, the shared schedule's arithmetic (in memory), and ``ProviderCalls`` against the
loopback OpenAI fake answering 429, 5xx, hanging, and recovering."""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

import pytest

from promptworks_contracts.values import ModelParameters, ModelRef
from run_orchestrator.adapters.memory import InMemoryRateLimitStore
from run_orchestrator.domain.catalog import ModelLimits
from run_orchestrator.domain.rendering import Message
from run_orchestrator.execution.backoff import backoff_seconds
from run_orchestrator.execution.breaker import CircuitBreaker
from run_orchestrator.execution.calls import (
    ProviderCalls,
    effective_limits,
    policy_for,
    provider_config,
)
from run_orchestrator.execution.concurrency import AdaptiveConcurrency
from run_orchestrator.execution.limits import (
    RateLimiterUnavailableError,
    SharedRateLimiter,
    call_cost,
    estimate_tokens,
)
from run_orchestrator.execution.metrics import PROVIDER_CALLS, PROVIDER_RETRIES
from run_orchestrator.providers.base import Completion, CompletionRequest, ProviderError
from run_orchestrator.providers.mock import MockProvider
from run_orchestrator.providers.openai_compat import OpenAICompatibleProvider
from run_orchestrator.providers.streaming import TextDelta
from run_orchestrator.settings import ProviderConfig, RunOrchestratorSettings
from tests.support.fake_openai import FakeOpenAI, serving_fake_openai
from tests.support.fake_replies import Reply

KEY = "sk-resilience-secret"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_backoff_is_full_jitter_capped_and_honours_retry_after() -> None:
    draw = random.Random(7)
    for retry in range(1, 8):
        for _ in range(50):
            delay = backoff_seconds(retry, base=0.5, cap=8.0, draw=draw)
            assert 0.0 <= delay <= min(8.0, 0.5 * 2 ** (retry - 1))
    assert backoff_seconds(1, base=0.5, cap=8.0, retry_after=3.0, draw=draw) == 3.0
    assert backoff_seconds(1, base=0.5, cap=8.0, retry_after=60.0, draw=draw) == 8.0


def test_the_breaker_opens_after_consecutive_failures_and_probes_once() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown=10.0, clock=clock)
    breaker.failed()
    breaker.failed()
    breaker.succeeded()  # a success resets the count
    breaker.failed()
    breaker.failed()
    assert breaker.admit() is None and breaker.state == "closed"
    breaker.failed()
    assert breaker.state == "open" and breaker.admit() == 10.0
    clock.now += 10.0
    assert breaker.state == "half_open"
    assert breaker.admit() is None  # the probe
    assert breaker.admit() is not None  # everyone else waits for it
    breaker.failed()  # the probe failed: open again for a cooldown
    assert breaker.state == "open" and breaker.admit() == 10.0
    clock.now += 10.0
    assert breaker.admit() is None
    breaker.succeeded()
    assert breaker.state == "closed" and breaker.admit() is None


async def test_adaptive_concurrency_halves_on_429_and_recovers_on_success() -> None:
    gate = AdaptiveConcurrency(8)
    first = await gate.acquire()
    second = await gate.acquire()
    gate.rate_limited(first)
    assert gate.limit == 4
    gate.rate_limited(second)  # sent under the old limit: the same overload counts once
    assert gate.limit == 4
    gate.release()
    gate.release()
    third = await gate.acquire()
    gate.rate_limited(third)
    gate.release()
    assert gate.limit == 2
    for _ in range(200):
        gate.succeeded()
    assert gate.limit == 8  # additive increase back to the ceiling, never beyond

    # Waiters beyond the limit get in as slots are released.
    for _ in range(2):
        gate.rate_limited(await gate.acquire())
        gate.release()
    assert gate.limit == 2
    for _ in range(2):
        await gate.acquire()
    entered: list[int] = []

    async def enter(i: int) -> None:
        await gate.acquire()
        entered.append(i)

    waiting = [asyncio.create_task(enter(i)) for i in range(3)]
    await asyncio.sleep(0.01)
    assert entered == [] and gate.in_flight == 2
    gate.release()
    await asyncio.sleep(0.01)
    assert entered == [0]
    waiting[1].cancel()
    gate.release()
    await asyncio.sleep(0.01)
    assert entered == [0, 2] and gate.in_flight == 2


def test_call_costs_combine_both_limits_and_settle_with_actual_usage() -> None:
    assert call_cost(ModelLimits(), 100, 0.0) is None
    assert estimate_tokens(prompt_chars=401, max_tokens=50, default_completion=512) == 151
    assert estimate_tokens(prompt_chars=8, max_tokens=None, default_completion=512) == 514
    cost = call_cost(ModelLimits(requests_per_minute=120, tokens_per_minute=6000), 200, 0.0)
    assert cost is not None
    assert cost.seconds == pytest.approx(2.0)  # tokens bind: 200 * 60/6000
    assert cost.settled(100) == pytest.approx(-1.0)  # gives one second back
    assert cost.settled(10) == pytest.approx(-1.5)  # never below one request's 0.5 s
    paced = call_cost(ModelLimits(requests_per_minute=60), 10_000, 0.1)
    assert paced is not None and paced.seconds == pytest.approx(1.1) and paced.settled(5) == 0.0
    config = ProviderConfig.model_validate(
        {
            "base_url": "http://x/v1",
            "limits": {"requests_per_minute": 100, "max_concurrency": 3},
            "models": {"m": {"limits": {"requests_per_minute": 10}}},
        }
    )
    assert effective_limits(config, "m") == ModelLimits(requests_per_minute=10, max_concurrency=3)
    assert effective_limits(config, "other").requests_per_minute == 100


async def test_the_shared_schedule_paces_callers_and_batches_reservations() -> None:
    store = InMemoryRateLimitStore()
    reserved: list[tuple[float, float]] = []
    reserve = store.reserve

    async def counting(key: str, seconds: float) -> tuple[float, float]:
        start, now = await reserve(key, seconds)
        reserved.append((start, seconds))
        return start, now

    store.reserve = counting  # type: ignore[method-assign]
    limiter = SharedRateLimiter(store, lookahead=0.1)
    await asyncio.gather(*(limiter.acquire("p/m", 0.05) for _ in range(8)))
    await limiter.aclose()
    # Every caller got 0.05 s of one contiguous schedule: reservations follow each other
    # without gaps or overlaps ...
    for (start, seconds), (next_start, _) in itertools.pairwise(reserved):
        assert next_start == pytest.approx(start + seconds)
    assert store.tat["p/m"] == pytest.approx(reserved[0][0] + 8 * 0.05)
    # ... and callers queued together shared a round trip.
    assert len(reserved) < 8


async def test_an_unreachable_schedule_fails_the_acquisition_not_silently() -> None:
    class Down:
        async def reserve(self, key: str, seconds: float) -> tuple[float, float]:
            raise ConnectionError("database down")

        async def adjust(self, key: str, seconds: float) -> None:
            raise ConnectionError("database down")

    limiter = SharedRateLimiter(Down())
    with pytest.raises(RateLimiterUnavailableError):
        await limiter.acquire("p/m", 0.1)
    await limiter.adjust("p/m", 1.0)  # a lost settlement is only logged


def request() -> CompletionRequest:
    return CompletionRequest(
        model=ModelRef(provider="fake", name="gpt-r"),
        parameters=ModelParameters(max_tokens=8),
        messages=[Message("user", "Hello")],
        case_index=0,
        repetition=1,
    )


def settings(fake: FakeOpenAI, **provider: Any) -> RunOrchestratorSettings:
    config = {
        "base_url": fake.base_url,
        "api_key": KEY,
        "retry_base_seconds": 0.01,
        "retry_max_seconds": 2.0,
        **provider,
    }
    return RunOrchestratorSettings(providers={"fake": config})


def count(metric: Any, *labels: str) -> float:
    return float(metric.labels(*labels)._value.get())


async def test_429_and_5xx_are_retried_honouring_retry_after_then_succeed() -> None:
    async with serving_fake_openai() as fake:
        config = settings(fake, max_retries=3, timeout_seconds=0.3)
        provider = OpenAICompatibleProvider("fake", config.providers["fake"], pool_size=4)
        calls = ProviderCalls(config, limiter=None, draw=random.Random(1))
        before = count(PROVIDER_RETRIES, "fake", "gpt-r", "rate_limited")
        limited_before = count(PROVIDER_CALLS, "fake", "gpt-r", "rate_limited")
        try:
            fake.then(Reply.rate_limited(retry_after=0.4), Reply.error(502), Reply.hang())
            completion = await calls.complete(provider, request(), 4)
        finally:
            await provider.aclose()
    assert completion.output == "fake reply to: Hello"
    assert len(fake.request_times) == 4
    assert fake.request_times[1] - fake.request_times[0] >= 0.4  # Retry-After honoured
    assert count(PROVIDER_RETRIES, "fake", "gpt-r", "rate_limited") == before + 1
    assert count(PROVIDER_CALLS, "fake", "gpt-r", "rate_limited") == limited_before + 1


async def test_the_last_failure_is_raised_with_a_safe_message() -> None:
    async with serving_fake_openai() as fake:
        config = settings(fake, max_retries=2)
        provider = OpenAICompatibleProvider("fake", config.providers["fake"], pool_size=4)
        calls = ProviderCalls(config, limiter=None)
        fake.fail_with_status = 500
        try:
            with pytest.raises(ProviderError) as raised:
                await calls.complete(provider, request(), 4)
        finally:
            await provider.aclose()
    assert len(fake.requests) == 3  # one call and two retries
    assert str(raised.value).startswith("InternalServerError (HTTP 500)")
    assert KEY not in str(raised.value)


async def test_a_failing_provider_opens_the_circuit_and_no_request_is_sent() -> None:
    async with serving_fake_openai() as fake:
        config = settings(fake, max_retries=0, breaker_failures=3, breaker_cooldown_seconds=30.0)
        provider = OpenAICompatibleProvider("fake", config.providers["fake"], pool_size=4)
        calls = ProviderCalls(config, limiter=None)
        fake.fail_with_status = 503
        errors: list[ProviderError] = []
        try:
            for _ in range(6):
                with pytest.raises(ProviderError) as raised:
                    await calls.complete(provider, request(), 4)
                errors.append(raised.value)
        finally:
            await provider.aclose()
    assert len(fake.requests) == 3  # the circuit opened after three failures
    assert [e.kind for e in errors] == ["server"] * 3 + ["circuit_open"] * 3
    assert "circuit open" in str(errors[-1])


async def test_concurrency_backs_off_on_429_and_recovers() -> None:
    async with serving_fake_openai() as fake:
        fake.latency = 0.05
        fake.rate_limit_above = 3
        config = settings(fake, max_retries=10, retry_max_seconds=0.05)
        provider = OpenAICompatibleProvider("fake", config.providers["fake"], pool_size=16)
        calls = ProviderCalls(config, limiter=None)
        try:
            await asyncio.gather(*(calls.complete(provider, request(), 16) for _ in range(40)))
            gate = calls.gate("fake", "gpt-r")
            assert gate is not None and gate.limit < 16  # backed off
            fake.rate_limit_above = None
            for _ in range(10):
                await asyncio.gather(*(calls.complete(provider, request(), 16) for _ in range(16)))
        finally:
            await provider.aclose()
    assert gate.limit == 16  # recovered to the ceiling


async def test_tokens_per_minute_reserves_an_estimate_and_settles_with_actual_usage() -> None:
    store = InMemoryRateLimitStore()
    starts: list[float] = []
    reserve = store.reserve

    async def recording(key: str, seconds: float) -> tuple[float, float]:
        start, now = await reserve(key, seconds)
        starts.append(start)
        return start, now

    store.reserve = recording  # type: ignore[method-assign]
    limiter = SharedRateLimiter(store)
    async with serving_fake_openai() as fake:
        config = settings(fake, models={"gpt-r": {"limits": {"tokens_per_minute": 60_000}}})
        provider = OpenAICompatibleProvider("fake", config.providers["fake"], pool_size=4)
        calls = ProviderCalls(config, limiter=limiter)
        try:
            completion = await calls.complete(provider, request(), 4)
        finally:
            await provider.aclose()
            await limiter.aclose()
    # Reserved: "Hello" (5 chars -> 2 tokens) + max_tokens 8 = 10 tokens; used: 1 + 4 = 5.
    assert completion.usage.total_tokens == 5
    per_token = 60.0 / 60_000 * (1 + config.rate_limit_headroom)
    assert store.tat["fake/gpt-r"] - starts[0] == pytest.approx(5 * per_token)


async def test_a_retry_after_holds_every_new_call_of_the_model_until_then() -> None:
    async with serving_fake_openai() as fake:
        config = settings(fake, max_retries=2)
        provider = OpenAICompatibleProvider("fake", config.providers["fake"], pool_size=4)
        calls = ProviderCalls(config, limiter=None, draw=random.Random(3))
        fake.then(Reply.rate_limited(retry_after=0.5))
        try:
            first = asyncio.create_task(calls.complete(provider, request(), 4))
            while not fake.request_times:
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.05)  # the 429 is in
            await calls.complete(provider, request(), 4)  # another call of the same model
            await first
        finally:
            await provider.aclose()
    limited_at, *later = fake.request_times
    assert len(later) == 2 and min(later) - limited_at >= 0.5  # nobody asked before then


def test_the_policy_comes_from_the_providers_own_configuration() -> None:
    """PROVIDERS and catalog providers carry the config they were built from; the mock's
    models take limits from MOCK_MODELS and retry nothing."""
    settings_ = RunOrchestratorSettings(
        mock_models={"slow": {"limits": {"requests_per_minute": 60, "max_concurrency": 2}}}
    )
    catalog_entry = ProviderConfig.model_validate(
        {"base_url": "http://127.0.0.1:9/v1", "max_retries": 7, "timeout_seconds": 5}
    )
    built = OpenAICompatibleProvider("from-catalog", catalog_entry, pool_size=2)
    assert provider_config(built) is catalog_entry
    assert provider_config(MockProvider()) is None
    policy = policy_for(settings_, provider_config(built), "any", 64)
    assert (policy.max_retries, policy.timeout, policy.concurrency) == (7, 5.0, 64)
    mock = policy_for(settings_, None, "slow", 64)
    assert mock.max_retries == 0 and mock.concurrency == 2
    assert mock.limits.requests_per_minute == 60
    assert policy_for(settings_, None, "echo", 64).limits == ModelLimits()


async def test_a_streamed_call_is_retried_until_its_first_text_and_shares_the_circuit() -> None:
    """Quick tests stream through the same ProviderCalls as runs: a 429 before any text is
    retried (honouring Retry-After), and a provider whose circuit runs opened is not called."""
    async with serving_fake_openai() as fake:
        config = settings(fake, max_retries=2, breaker_failures=2, breaker_cooldown_seconds=30.0)
        provider = OpenAICompatibleProvider("fake", config.providers["fake"], pool_size=4)
        calls = ProviderCalls(config, limiter=None, draw=random.Random(1))
        try:
            fake.then(Reply.rate_limited(retry_after=0.3))
            parts = [part async for part in calls.stream(provider, request())]
            retried = list(fake.request_times)
            fake.fail_with_status = 503
            for _ in range(2):  # a run's calls fail twice: the circuit opens
                with pytest.raises(ProviderError):
                    await calls.complete(provider, request(), 4)
            sent = len(fake.requests)
            with pytest.raises(ProviderError) as refused:
                [part async for part in calls.stream(provider, request())]
        finally:
            await provider.aclose()
    *deltas, completion = parts
    assert isinstance(completion, Completion) and completion.output == "fake reply to: Hello"
    assert "".join(d.text for d in deltas if isinstance(d, TextDelta)) == completion.output
    assert len(retried) == 2 and retried[1] - retried[0] >= 0.3
    assert refused.value.kind == "circuit_open" and len(fake.requests) == sent


async def test_a_changed_catalog_entry_gets_a_fresh_breaker_and_its_new_concurrency() -> None:
    """A provider rebuilt from a changed catalog entry is a new configuration: its circuit and
    concurrency gate start again from the new settings, not the old entry's state."""
    async with serving_fake_openai() as fake:
        config = settings(fake, max_retries=0, breaker_failures=1, breaker_cooldown_seconds=30.0)
        old = OpenAICompatibleProvider("fake", config.providers["fake"], pool_size=2)
        changed = config.providers["fake"].model_copy(
            update={"limits": ModelLimits(max_concurrency=3)}
        )
        new = OpenAICompatibleProvider("fake", changed, pool_size=2)
        calls = ProviderCalls(config, limiter=None)
        try:
            fake.fail_with_status = 500
            with pytest.raises(ProviderError):
                await calls.complete(old, request(), 8)
            old_breaker = calls.breaker("fake")
            assert old_breaker is not None and old_breaker.state == "open"
            fake.fail_with_status = None
            completion = await calls.complete(new, request(), 8)
        finally:
            await old.aclose()
            await new.aclose()
    assert completion.output == "fake reply to: Hello"
    breaker, gate = calls.breaker("fake"), calls.gate("fake", "gpt-r")
    assert breaker is not None and breaker is not old_breaker and breaker.state == "closed"
    assert gate is not None and gate.limit == 3
