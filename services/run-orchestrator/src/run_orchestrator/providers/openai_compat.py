"""Any OpenAI-compatible chat-completions endpoint, through the official ``openai`` SDK.

One ``AsyncOpenAI`` client per configured provider (its connection pool is shared by all runs).
Errors become ``ProviderError`` with the exception type, HTTP status and the server's short
message; the API key is scrubbed from the message in case a server echoes it back.
"""

from __future__ import annotations

from typing import Any

import openai

from promptworks_contracts.values import TokenUsage
from run_orchestrator.providers.base import (
    Completion,
    CompletionRequest,
    ProviderError,
    describe_sdk_error,
)
from run_orchestrator.settings import ProviderConfig

NO_KEY = "no-key"


class OpenAICompatibleProvider:
    kind = "openai"

    def __init__(self, name: str, config: ProviderConfig) -> None:
        self.name = name
        self._secret = config.api_key.get_secret_value()
        self._max_concurrency = config.max_concurrency
        self._client = openai.AsyncOpenAI(
            base_url=config.base_url,
            # Local servers (vLLM, Ollama) need no key, but the SDK insists on one.
            api_key=self._secret or NO_KEY,
            timeout=config.timeout_seconds,
            max_retries=config.max_retries,
        )

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
            response = await self._client.chat.completions.create(
                model=request.model.name,
                messages=[
                    {"role": m.role, "content": m.content}  # type: ignore[misc]
                    for m in request.messages
                ],
                **options,
            )
        except openai.APIError as error:
            raise ProviderError(describe_sdk_error(error, error.message, self._secret)) from None
        if not response.choices:
            raise ProviderError("the provider returned no choices")
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

    async def aclose(self) -> None:
        await self._client.close()
