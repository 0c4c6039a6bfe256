"""What every model provider offers the executor.

A provider turns one rendered prompt into one completion. It raises ``ProviderError`` with a
short message for a failed call; the message ends up in a ResultRecorded event, so it must
never contain credentials or request headers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from promptworks_contracts.values import ModelParameters, ModelRef, TokenUsage
from run_orchestrator.domain.rendering import Message

MAX_ERROR_CHARS = 500


class ProviderError(Exception):
    """A model call failed; ``str(error)`` is safe to record."""


def describe_sdk_error(error: Exception, message: str, secret: str) -> str:
    """A short, recordable description of an SDK error: type, HTTP status, the server's
    message, with the API key scrubbed in case a server echoes it back."""
    status = getattr(error, "status_code", None)
    prefix = f"{type(error).__name__}" + (f" (HTTP {status})" if status else "")
    text = f"{prefix}: {message}"
    if secret:
        text = text.replace(secret, "***")
    return text[:MAX_ERROR_CHARS]


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    model: ModelRef
    parameters: ModelParameters
    messages: list[Message]
    case_index: int
    repetition: int


@dataclass(frozen=True, slots=True)
class Completion:
    output: str
    usage: TokenUsage
    finish_reason: str | None = None


class ModelProvider(Protocol):
    kind: str

    @property
    def max_concurrency(self) -> int | None:
        """Calls per run this provider allows at once; None means the global setting."""
        ...

    async def complete(self, request: CompletionRequest) -> Completion: ...

    async def aclose(self) -> None: ...
