"""Any OpenAI-compatible chat-completions endpoint, through the official ``openai`` SDK.

One ``AsyncOpenAI`` client per configured provider (its connection pool is shared by all runs),
on the SDK's aiohttp transport with a pool as large as the executor's concurrency (pool.py).

The call goes through the SDK's generic ``post`` (its documented way to reach any endpoint:
authentication, base URL, headers, status errors as exception classes) with the body built
here, and the JSON answer is read here. The typed ``chat.completions.create`` spends about a
millisecond of CPU per call transforming parameters and building response models, which at
hundreds of calls per second on two cores was most of the run's time (bench/README.md).

The SDK's own retries are off (``max_retries=0``): the executor's retry policy is the only one.
Errors become ``ProviderError`` with the exception type, HTTP status, the server's short
message and what the executor may do about it (``kind``, ``retry_after``); the API key is
scrubbed from the message in case a server echoes it back.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from typing import Any

import openai
from openai._models import FinalRequestOptions
from openai._vendor.httpx_aiohttp.transport import AiohttpTransport, map_aiohttp_exceptions

from promptworks_contracts.values import TokenUsage
from run_orchestrator.providers.base import (
    Completion,
    CompletionRequest,
    EmbeddingRequest,
    Embeddings,
    ProviderError,
    scrub,
    sdk_failure,
)
from run_orchestrator.providers.pool import pool_limits
from run_orchestrator.providers.streaming import StreamPart, TextDelta
from run_orchestrator.providers.templates import TemplatedClient
from run_orchestrator.settings import ProviderConfig

NO_KEY = "no-key"
COMPLETIONS_PATH = "/chat/completions"


def request_body(request: CompletionRequest) -> dict[str, Any]:
    parameters = request.parameters
    body: dict[str, Any] = {
        "model": request.model.name,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "temperature": parameters.temperature,
        "top_p": parameters.top_p,
    }
    if parameters.max_tokens is not None:
        body["max_tokens"] = parameters.max_tokens
    if parameters.seed is not None:
        body["seed"] = parameters.seed
    if parameters.stop:
        body["stop"] = list(parameters.stop)
    if request.response_format is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": request.response_format.name,
                "schema": request.response_format.json_schema,
                "strict": True,
            },
        }
    return body


def read_completion(answer: dict[str, Any]) -> Completion:
    """The first choice and the usage of a chat.completion body; raises KeyError, IndexError
    or TypeError when the body is not one."""
    choice = answer["choices"][0]
    usage = answer.get("usage") or {}
    content = choice["message"].get("content")
    return Completion(
        output=content if isinstance(content, str) else "",
        usage=TokenUsage(
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            total_tokens=int(usage.get("total_tokens") or 0),
        ),
        finish_reason=choice.get("finish_reason"),
    )


class TemplatedAsyncOpenAI(TemplatedClient, openai.AsyncOpenAI):
    """The SDK's client, reusing each path's request with a new body (templates.py) and
    sending JSON POSTs straight through its aiohttp session (direct.py)."""

    options_type = FinalRequestOptions
    sdk_client = openai.AsyncOpenAI
    transport_type = AiohttpTransport
    timeout_error = openai.APITimeoutError
    connection_error = openai.APIConnectionError

    def _map_exceptions(self) -> AbstractContextManager[None]:
        return map_aiohttp_exceptions()

    def _sends_plainly(self) -> bool:
        # A provider runtime, workload identity or key provider change requests per call.
        return (
            super()._sends_plainly()
            and self._provider_runtime is None
            and self._workload_identity_auth is None
            and self._api_key_provider is None
        )


class OpenAICompatibleProvider:
    kind = "openai"

    def __init__(self, name: str, config: ProviderConfig, *, pool_size: int) -> None:
        self.name = name
        self.config = config  # the executor's call policy (retries, timeout, limits) reads it
        self._secret = config.api_key.get_secret_value()
        self._max_concurrency = config.max_concurrency
        self._client = TemplatedAsyncOpenAI(
            base_url=config.base_url,
            # Local servers (vLLM, Ollama) need no key, but the SDK insists on one.
            api_key=self._secret or NO_KEY,
            timeout=config.timeout_seconds,
            max_retries=0,
            http_client=openai.DefaultAioHttpClient(
                limits=pool_limits(pool_size), timeout=config.timeout_seconds
            ),
        )

    @property
    def max_concurrency(self) -> int | None:
        return self._max_concurrency

    async def complete(self, request: CompletionRequest) -> Completion:
        try:
            content = await self._client.post_json(COMPLETIONS_PATH, request_body(request))
        except openai.APIError as error:
            raise sdk_failure(error, error.message, self._secret) from None
        try:
            return read_completion(json.loads(content))
        except (ValueError, KeyError, IndexError, TypeError) as error:
            message = scrub(f"malformed response: {type(error).__name__}", self._secret)
            raise ProviderError(message, kind="malformed") from None

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        """The embeddings endpoint (``embeddings.create``, floats), one vector per input."""
        try:
            answer = await self._client.embeddings.create(
                model=request.model.name, input=request.inputs, encoding_format="float"
            )
        except openai.APIError as error:
            raise sdk_failure(error, error.message, self._secret) from None
        vectors = [item.embedding for item in sorted(answer.data, key=lambda d: d.index)]
        if len(vectors) != len(request.inputs) or any(not v for v in vectors):
            raise ProviderError(
                f"malformed response: {len(vectors)} embedding(s) for "
                f"{len(request.inputs)} input(s)",
                kind="malformed",
            )
        tokens = answer.usage.prompt_tokens if answer.usage is not None else 0
        return Embeddings(
            vectors=vectors,
            usage=TokenUsage(prompt_tokens=tokens, completion_tokens=0, total_tokens=tokens),
        )

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamPart]:
        """The chat-completions SSE stream (``stream_options.include_usage`` for the usage)."""
        parts: list[str] = []
        usage, finish_reason = TokenUsage(), None
        try:
            chunks = await self._client.chat.completions.create(
                **request_body(request), stream=True, stream_options={"include_usage": True}
            )
            async for chunk in chunks:
                if chunk.usage is not None:
                    usage = TokenUsage(
                        prompt_tokens=chunk.usage.prompt_tokens,
                        completion_tokens=chunk.usage.completion_tokens,
                        total_tokens=chunk.usage.total_tokens,
                    )
                for choice in chunk.choices:
                    if choice.delta.content:
                        parts.append(choice.delta.content)
                        yield TextDelta(choice.delta.content)
                    finish_reason = choice.finish_reason or finish_reason
        except openai.APIError as error:
            raise sdk_failure(error, error.message, self._secret) from None
        yield Completion(output="".join(parts), usage=usage, finish_reason=finish_reason)

    async def aclose(self) -> None:
        await self._client.close()
