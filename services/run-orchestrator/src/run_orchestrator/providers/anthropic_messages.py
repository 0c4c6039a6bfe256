"""Anthropic's Messages API through the official ``anthropic`` SDK.

The system message travels in ``system`` (the API has no system role); ``max_tokens`` is
required by the API, so a run without one asks for ``DEFAULT_MAX_TOKENS``. The SDK's
``messages.create`` (anthropic 2.x) takes no temperature or top_p: the run's snapshot keeps
them, but they are not sent.

A call goes through the SDK's generic ``post`` (authentication, base URL, headers, status errors
as exception classes) with the body built here and the JSON answer read here, on a client that
reuses each path's request (templates.py): the typed ``messages.create`` built a response model
per call and the SDK rebuilt the request from scratch (ADR 0021). Streaming keeps the SDK's
stream helper.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from typing import Any

import anthropic
from anthropic._models import FinalRequestOptions
from anthropic._vendor.httpx_aiohttp.transport import AiohttpTransport, map_aiohttp_exceptions

from promptworks_contracts.values import TokenUsage
from run_orchestrator.providers.base import (
    Completion,
    CompletionRequest,
    ProviderError,
    scrub,
    sdk_failure,
)
from run_orchestrator.providers.pool import pool_limits
from run_orchestrator.providers.streaming import StreamPart, TextDelta
from run_orchestrator.providers.templates import TemplatedClient
from run_orchestrator.settings import ProviderConfig

DEFAULT_MAX_TOKENS = 1024
MESSAGES_PATH = "/v1/messages"


class TemplatedAsyncAnthropic(TemplatedClient, anthropic.AsyncAnthropic):
    """The SDK's client, reusing each path's request with a new body (templates.py) and
    sending JSON POSTs straight through its aiohttp session (direct.py)."""

    options_type = FinalRequestOptions
    sdk_client = anthropic.AsyncAnthropic
    transport_type = AiohttpTransport
    timeout_error = anthropic.APITimeoutError
    connection_error = anthropic.APIConnectionError

    def _map_exceptions(self) -> AbstractContextManager[None]:
        return map_aiohttp_exceptions()

    def _sends_plainly(self) -> bool:
        # Credentials through a token cache put a fresh token on each request.
        return super()._sends_plainly() and self._token_cache is None


class AnthropicProvider:
    kind = "anthropic"

    def __init__(self, name: str, config: ProviderConfig, *, pool_size: int) -> None:
        self.name = name
        self.config = config  # the executor's call policy (retries, timeout, limits) reads it
        self._secret = config.api_key.get_secret_value()
        self._max_concurrency = config.max_concurrency
        self._client = TemplatedAsyncAnthropic(
            api_key=self._secret,
            base_url=config.base_url,
            timeout=config.timeout_seconds,
            max_retries=0,  # the executor's retry policy is the only one
            # aiohttp's pool, sized for the concurrency the executor allows (pool.py).
            http_client=anthropic.DefaultAioHttpClient(
                limits=pool_limits(pool_size),
                timeout=config.timeout_seconds,
            ),
        )
        # The SDK imports its resources on first use: done here, at start-up, not on the
        # event loop in the middle of a rate-limited schedule.
        self._messages = self._client.messages

    @property
    def max_concurrency(self) -> int | None:
        return self._max_concurrency

    async def complete(self, request: CompletionRequest) -> Completion:
        try:
            content = await self._client.post_json(MESSAGES_PATH, _options(request))
        except anthropic.APIError as error:
            raise sdk_failure(error, error.message, self._secret) from None
        try:
            return read_message(json.loads(content))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
            message = scrub(f"malformed response: {type(error).__name__}", self._secret)
            raise ProviderError(message, kind="malformed") from None

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamPart]:
        """The Messages API's SSE stream, through the SDK's stream helper."""
        try:
            async with self._messages.stream(**_options(request)) as events:
                async for text in events.text_stream:
                    yield TextDelta(text)
                final = await events.get_final_message()
        except anthropic.APIError as error:
            raise sdk_failure(error, error.message, self._secret) from None
        yield _completion(final)

    async def aclose(self) -> None:
        await self._client.close()


def _options(request: CompletionRequest) -> dict[str, Any]:
    """The Messages API's arguments: system prompts apart, ``max_tokens`` required."""
    parameters = request.parameters
    options: dict[str, Any] = {
        "model": request.model.name,
        "messages": [
            {"role": m.role, "content": m.content} for m in request.messages if m.role != "system"
        ],
        "max_tokens": parameters.max_tokens or DEFAULT_MAX_TOKENS,
    }
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    if system:
        options["system"] = system
    if parameters.stop:
        options["stop_sequences"] = list(parameters.stop)
    return options


def read_message(answer: dict[str, Any]) -> Completion:
    """A Messages API body as a Completion: its text blocks, usage and stop reason; raises
    KeyError, TypeError or AttributeError when the body is not a message."""
    text = "".join(block["text"] for block in answer["content"] if block.get("type") == "text")
    usage = answer["usage"]
    prompt, completion = int(usage["input_tokens"]), int(usage["output_tokens"])
    return Completion(
        output=text,
        usage=TokenUsage(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        ),
        finish_reason=answer.get("stop_reason"),
    )


def _completion(message: Any) -> Completion:
    """A Messages API message as a Completion: its text blocks, usage and stop reason. The
    SDK does not validate bodies, so a malformed one raises AttributeError or TypeError."""
    text = "".join(block.text for block in message.content if block.type == "text")
    usage = message.usage
    return Completion(
        output=text,
        usage=TokenUsage(
            prompt_tokens=usage.input_tokens,
            completion_tokens=usage.output_tokens,
            total_tokens=usage.input_tokens + usage.output_tokens,
        ),
        finish_reason=message.stop_reason,
    )
