"""Any OpenAI-compatible chat-completions endpoint, through the official ``openai`` SDK.

One ``AsyncOpenAI`` client per configured provider (its connection pool is shared by all runs),
on the SDK's aiohttp transport with a pool as large as the executor's concurrency (pool.py).

The SDK's own retries are off (``max_retries=0``): the executor's retry policy is the only one.
Errors become ``ProviderError`` with the exception type, HTTP status, the server's short
message and what the executor may do about it (``kind``, ``retry_after``); the API key is
scrubbed from the message in case a server echoes it back.
"""

from __future__ import annotations

from typing import Any

import openai

from promptworks_contracts.values import TokenUsage
from run_orchestrator.providers.base import (
    Completion,
    CompletionRequest,
    ProviderError,
    scrub,
    sdk_failure,
)
from run_orchestrator.providers.pool import pool_limits
from run_orchestrator.settings import ProviderConfig

NO_KEY = "no-key"


class OpenAICompatibleProvider:
    kind = "openai"

    def __init__(self, name: str, config: ProviderConfig, *, pool_size: int) -> None:
        self.name = name
        self._secret = config.api_key.get_secret_value()
        self._max_concurrency = config.max_concurrency
        self._client = openai.AsyncOpenAI(
            base_url=config.base_url,
            # Local servers (vLLM, Ollama) need no key, but the SDK insists on one.
            api_key=self._secret or NO_KEY,
            timeout=config.timeout_seconds,
            max_retries=0,
            http_client=openai.DefaultAioHttpClient(
                limits=pool_limits(pool_size), timeout=config.timeout_seconds
            ),
        )
        # The SDK imports its chat resources on first use (~0.1 s of blocking import): done
        # here, at start-up, not on the event loop in the middle of a rate-limited schedule.
        self._completions = self._client.chat.completions

    @property
    def max_concurrency(self) -> int | None:
        return self._max_concurrency

    async def complete(self, request: CompletionRequest) -> Completion:
        parameters = request.parameters
        options: dict[str, Any] = {
            "temperature": parameters.temperature,
            "top_p": parameters.top_p,
        }
        if parameters.max_tokens is not None:
            options["max_tokens"] = parameters.max_tokens
        if parameters.seed is not None:
            options["seed"] = parameters.seed
        if parameters.stop:
            options["stop"] = list(parameters.stop)
        try:
            response = await self._completions.create(
                model=request.model.name,
                messages=[
                    {"role": m.role, "content": m.content}  # type: ignore[misc]
                    for m in request.messages
                ],
                **options,
            )
        except openai.APIError as error:
            raise sdk_failure(error, error.message, self._secret) from None
        except ValueError as error:  # a body that is not JSON (json.JSONDecodeError)
            message = scrub(f"malformed response: {type(error).__name__}", self._secret)
            raise ProviderError(message, kind="malformed") from None
        try:
            choice = response.choices[0]
            usage = response.usage
            return Completion(
                output=choice.message.content or "",
                usage=TokenUsage(
                    prompt_tokens=usage.prompt_tokens if usage else 0,
                    completion_tokens=usage.completion_tokens if usage else 0,
                    total_tokens=usage.total_tokens if usage else 0,
                ),
                finish_reason=choice.finish_reason,
            )
        except (AttributeError, IndexError, TypeError) as error:
            # The SDK does not validate bodies: a malformed one surfaces here.
            message = scrub(f"malformed response: {type(error).__name__}", self._secret)
            raise ProviderError(message, kind="malformed") from None

    async def aclose(self) -> None:
        await self._client.close()
