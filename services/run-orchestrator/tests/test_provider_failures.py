"""The SDK providers against the loopback fakes answering badly (429 + Retry-After, 5xx,
hanging, malformed bodies) and streaming: what each failure becomes, and that the fakes speak
the APIs' SSE streams as the official SDKs read them. No database, no Kafka."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import openai

from promptworks_contracts.values import ModelParameters, ModelRef
from run_orchestrator.domain.rendering import Message
from run_orchestrator.providers.anthropic_messages import AnthropicProvider
from run_orchestrator.providers.base import CompletionRequest, ProviderError, parse_retry_after
from run_orchestrator.providers.openai_compat import OpenAICompatibleProvider
from run_orchestrator.settings import ProviderConfig
from tests.support.fake_anthropic import serving_fake_anthropic
from tests.support.fake_openai import serving_fake_openai
from tests.support.fake_replies import Reply, max_in_window

KEY = "sk-never-in-messages"


def request(provider: str, model: str = "m") -> CompletionRequest:
    return CompletionRequest(
        model=ModelRef(provider=provider, name=model),
        parameters=ModelParameters(max_tokens=16),
        messages=[Message("user", "Hello there")],
        case_index=0,
        repetition=1,
    )


def config(base_url: str, **extra: Any) -> ProviderConfig:
    return ProviderConfig.model_validate({"base_url": base_url, "api_key": KEY, **extra})


async def failure(provider: Any, req: CompletionRequest) -> ProviderError:
    try:
        await provider.complete(req)
    except ProviderError as error:
        return error
    raise AssertionError("the call did not fail")


async def test_openai_failures_are_classified_with_retry_after_and_no_key() -> None:
    async with serving_fake_openai() as fake:
        provider = OpenAICompatibleProvider("fake", config(fake.base_url), pool_size=8)
        try:
            fake.then(
                Reply.rate_limited(retry_after=1.5),
                Reply.error(503),
                Reply.error(400),
                Reply.malformed(),
            )
            limited = await failure(provider, request("fake"))
            assert (limited.kind, limited.retry_after, limited.retryable) == (
                "rate_limited",
                1.5,
                True,
            )
            assert str(limited).startswith("RateLimitError (HTTP 429)")
            server = await failure(provider, request("fake"))
            assert (server.kind, server.retryable) == ("server", True)
            client = await failure(provider, request("fake"))
            assert (client.kind, client.retryable) == ("client", False)
            malformed = await failure(provider, request("fake"))
            assert (malformed.kind, malformed.retryable) == ("malformed", False)
            for error in (limited, server, client, malformed):
                assert KEY not in str(error)
            # One request each: the SDK retries nothing by itself.
            assert len(fake.requests) == 4
            ok = await provider.complete(request("fake"))
            assert ok.output == "fake reply to: Hello there"
        finally:
            await provider.aclose()


async def test_a_hanging_openai_server_is_a_timeout() -> None:
    async with serving_fake_openai() as fake:
        provider = OpenAICompatibleProvider(
            "fake", config(fake.base_url, timeout_seconds=0.3), pool_size=8
        )
        try:
            fake.then(Reply.hang())
            error = await failure(provider, request("fake"))
            assert (error.kind, error.retryable) == ("timeout", True)
        finally:
            await provider.aclose()


async def test_anthropic_failures_are_classified() -> None:
    async with serving_fake_anthropic() as fake:
        provider = AnthropicProvider(
            "claude", config(fake.base_url, kind="anthropic", timeout_seconds=0.3), pool_size=8
        )
        try:
            fake.then(Reply.rate_limited(retry_after=2), Reply.error(529), Reply.hang())
            limited = await failure(provider, request("claude"))
            assert (limited.kind, limited.retry_after) == ("rate_limited", 2.0)
            overloaded = await failure(provider, request("claude"))
            assert overloaded.kind == "server" and "(HTTP 529)" in str(overloaded)
            hung = await failure(provider, request("claude"))
            assert hung.kind == "timeout"
            unknown = await failure(provider, request("claude", "claude-unknown"))
            assert unknown.kind == "client"
            assert all(KEY not in str(e) for e in (limited, overloaded, hung, unknown))
        finally:
            await provider.aclose()


async def test_the_fakes_stream_as_the_sdks_read_them_and_record_request_times() -> None:
    async with serving_fake_openai() as fake_openai, serving_fake_anthropic() as fake_claude:
        async with openai.AsyncOpenAI(base_url=fake_openai.base_url, api_key=KEY) as client:
            stream = await client.chat.completions.create(
                model="gpt-test",
                messages=[{"role": "user", "content": "Hi Ann"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            text, usage = "", None
            async for chunk in stream:
                if chunk.choices:
                    text += chunk.choices[0].delta.content or ""
                usage = chunk.usage or usage
            assert text == "fake reply to: Hi Ann"
            assert usage is not None and usage.completion_tokens == 5
        async with anthropic.AsyncAnthropic(base_url=fake_claude.base_url, api_key=KEY) as claude:
            async with claude.messages.stream(
                model="claude-test",
                max_tokens=32,
                messages=[{"role": "user", "content": "Hi Bo"}],
            ) as events:
                deltas = [delta async for delta in events.text_stream]
                message = await events.get_final_message()
            assert "".join(deltas) == "claude says: Hi Bo" and len(deltas) > 1
            assert message.usage.output_tokens == 4 and message.stop_reason == "end_turn"
    assert len(fake_openai.request_times) == 1 and len(fake_claude.request_times) == 1


async def test_the_fake_limits_its_concurrency_and_counts_requests_per_window() -> None:
    async with serving_fake_openai() as fake:
        fake.latency = 0.2
        fake.rate_limit_above = 2
        provider = OpenAICompatibleProvider("fake", config(fake.base_url), pool_size=8)
        try:
            outcomes = await asyncio.gather(
                *(provider.complete(request("fake")) for _ in range(5)), return_exceptions=True
            )
        finally:
            await provider.aclose()
    limited = [o for o in outcomes if isinstance(o, ProviderError)]
    assert len(limited) == 3 and all(e.kind == "rate_limited" for e in limited)
    assert fake.max_in_flight == 5
    assert max_in_window(fake.request_times, 60.0) == 5
    assert max_in_window([0.0, 0.5, 1.0, 1.4, 3.0], 1.0) == 3


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Sun, 29 Nov 2026 00:00:10 GMT", now=1795910400.0) == 10.0
    assert parse_retry_after("-3") == 0.0


# The direct path (providers/direct.py): a path's first call goes through the SDK's `request`,
# later ones straight through the SDK's aiohttp session. Both must look the same on the wire
# and fail the same way.


def sent(fake: Any, index: int) -> tuple[str, list[tuple[str, str]], bytes]:
    """A request as the server saw it, its headers in a canonical order (aiohttp places
    Content-Length where it builds it)."""
    path, headers, body = fake.wire[index]
    return path, sorted(headers), body


def direct(provider: Any) -> bool:
    """Whether the provider's next completion goes straight through the session."""
    return any(route is not None for route in (provider._client._routes or {}).values())


async def test_direct_calls_send_what_the_sdk_sends() -> None:
    async with serving_fake_openai() as fake, serving_fake_anthropic() as claude:
        providers = [
            OpenAICompatibleProvider("fake", config(fake.base_url), pool_size=8),
            AnthropicProvider("claude", config(claude.base_url, kind="anthropic"), pool_size=8),
        ]
        try:
            for provider, server in zip(providers, (fake, claude), strict=True):
                assert not direct(provider)
                first = await provider.complete(request(provider.name))  # through the SDK
                assert direct(provider)
                second = await provider.complete(request(provider.name))  # direct
                assert first == second and first.output and first.usage.total_tokens > 0
                assert sent(server, 1) == sent(server, 0)
                names = [name for name, _ in server.wire[1][1]]
                assert "authorization" in names and "content-length" in names
        finally:
            for provider in providers:
                await provider.aclose()


async def test_direct_calls_fail_as_the_sdks_calls_do() -> None:
    """Each failure, once on a fresh provider (the SDK's path) and once on one that already
    called (direct): the same kind, Retry-After and recorded message."""
    async with serving_fake_openai() as fake, serving_fake_anthropic() as claude:
        cases = [
            (Reply.rate_limited(retry_after=1.5), fake, "fake"),
            (Reply.error(503), fake, "fake"),
            (Reply.error(400), fake, "fake"),
            (Reply.malformed(), fake, "fake"),
            (Reply.hang(), fake, "fake"),
            (Reply.rate_limited(retry_after=2), claude, "claude"),
            (Reply.error(529), claude, "claude"),
            (Reply.hang(), claude, "claude"),
        ]
        for reply, server, name in cases:
            outcomes = []
            for warmed in (False, True):
                extra = {"timeout_seconds": 0.3}
                if server is claude:
                    provider: Any = AnthropicProvider(
                        name, config(server.base_url, kind="anthropic", **extra), pool_size=8
                    )
                else:
                    provider = OpenAICompatibleProvider(
                        name, config(server.base_url, **extra), pool_size=8
                    )
                try:
                    if warmed:
                        await provider.complete(request(name))
                        assert direct(provider)
                    server.then(reply)
                    error = await failure(provider, request(name))
                    outcomes.append((error.kind, error.retry_after, str(error)))
                finally:
                    await provider.aclose()
            assert outcomes[0] == outcomes[1], (reply, outcomes)
            assert KEY not in outcomes[0][2]


async def test_a_refused_connection_fails_the_same_on_both_paths() -> None:
    async with serving_fake_openai() as fake:
        base_url = fake.base_url
    provider = OpenAICompatibleProvider("gone", config(base_url), pool_size=8)  # nobody there
    try:
        through_sdk = await failure(provider, request("gone"))
        assert direct(provider)
        straight = await failure(provider, request("gone"))
    finally:
        await provider.aclose()
    assert through_sdk.kind == straight.kind == "connection"
    assert str(through_sdk) == str(straight)


async def test_a_redirect_is_followed_by_the_sdk_and_gzip_is_decoded() -> None:
    async with serving_fake_openai() as fake:
        provider = OpenAICompatibleProvider("fake", config(fake.base_url), pool_size=8)
        try:
            await provider.complete(request("fake"))
            fake.gzip = True
            zipped = await provider.complete(request("fake"))  # direct, decoded
            assert zipped.output == "fake reply to: Hello there"
            fake.then(Reply.redirect(), Reply.redirect())
            moved = await provider.complete(request("fake"))
            assert moved.output == "fake reply to: Hello there"
            # The redirected call was sent again through the SDK, which followed the second
            # redirect; the path's later calls go through the SDK.
            assert [path for path, _, _ in fake.wire] == [
                "/v1/chat/completions",
                "/v1/chat/completions",
                "/v1/chat/completions",
                "/v1/chat/completions",
                "/v1/moved/chat/completions",
            ]
            assert not direct(provider)
            assert (await provider.complete(request("fake"))).output == zipped.output
        finally:
            await provider.aclose()


async def test_a_paths_first_wave_waits_for_its_request_and_goes_direct() -> None:
    async with serving_fake_openai() as fake:
        fake.latency = 0.1
        provider = OpenAICompatibleProvider("fake", config(fake.base_url), pool_size=32)
        try:
            answers = await asyncio.gather(*(provider.complete(request("fake")) for _ in range(20)))
        finally:
            await provider.aclose()
    assert {a.output for a in answers} == {"fake reply to: Hello there"}
    assert provider._client.sdk_calls == 1  # the first; the other 19 went direct
    assert len({tuple(sorted(headers)) for _, headers, _ in fake.wire}) == 1
