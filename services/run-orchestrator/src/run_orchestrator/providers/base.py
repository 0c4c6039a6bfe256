"""What every model provider offers the executor.

A provider turns one rendered prompt into one completion. It raises ``ProviderError`` with a
short message for a failed call; the message ends up in a ResultRecorded event, so it must
never contain credentials or request headers.
"""

from __future__ import annotations

import email.utils
import math
import time
from dataclasses import dataclass
from typing import Literal, Protocol

from promptworks_contracts.api.completions import ResponseFormat
from promptworks_contracts.values import ModelParameters, ModelRef, TokenUsage
from run_orchestrator.domain.rendering import Message

MAX_ERROR_CHARS = 500


FailureKind = Literal[
    "rate_limited", "server", "timeout", "connection", "circuit_open", "client", "malformed"
]
RETRYABLE: frozenset[FailureKind] = frozenset(
    {"rate_limited", "server", "timeout", "connection", "circuit_open"}
)


class ProviderError(Exception):
    """A model call failed; ``str(error)`` is safe to record.

    ``kind`` says what the executor may do about it: ``rate_limited`` (429), ``server`` (5xx),
    ``timeout``, ``connection`` and ``circuit_open`` (the executor's breaker sent nothing) are
    retried; ``client`` (other 4xx, the mock's failures)
    and ``malformed`` (a body that is not the API's) are not. ``retry_after`` is the
    provider's ``Retry-After`` in seconds, when it sent one."""

    def __init__(
        self, message: str, *, kind: FailureKind = "client", retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


def failure_kind(status: int | None) -> FailureKind:
    if status == 429:
        return "rate_limited"
    if status is not None and (status >= 500 or status == 408):
        return "server"
    return "client"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date (RFC 9110); None when absent or
    unreadable. Also reads OpenAI's ``retry-after-ms``-style values when given in seconds."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def describe_sdk_error(error: Exception, message: str, secret: str) -> str:
    """A short, recordable description of an SDK error: type, HTTP status, the server's
    message, with the API key scrubbed in case a server echoes it back."""
    status = getattr(error, "status_code", None)
    prefix = f"{type(error).__name__}" + (f" (HTTP {status})" if status else "")
    text = f"{prefix}: {message}"
    return scrub(text, secret)


def scrub(text: str, secret: str) -> str:
    if secret:
        text = text.replace(secret, "***")
    return text[:MAX_ERROR_CHARS]


def sdk_failure(error: Exception, message: str, secret: str) -> ProviderError:
    """A ProviderError from an SDK's exception (openai and anthropic share the shape:
    ``status_code`` and ``response`` on status errors; timeout and connection classes)."""
    status: int | None = getattr(error, "status_code", None)
    name = type(error).__name__
    if status is None and _refused(error):
        # The SDKs' aiohttp transport maps a refused connection to a connect *timeout*.
        return ProviderError(
            scrub(f"APIConnectionError: {message} (connection refused)", secret),
            kind="connection",
        )
    if status is None:
        if "Timeout" in name:
            kind: FailureKind = "timeout"
        elif "Connection" in name:
            kind = "connection"
        elif "ResponseValidation" in name:
            kind = "malformed"
        else:
            kind = "client"
    else:
        kind = failure_kind(status)
    retry_after = None
    response = getattr(error, "response", None)
    if response is not None and status is not None:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
    return ProviderError(
        describe_sdk_error(error, message, secret), kind=kind, retry_after=retry_after
    )


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    model: ModelRef
    parameters: ModelParameters
    messages: list[Message]
    case_index: int
    repetition: int
    response_format: ResponseFormat | None = None
    """Structured output asked for (the judge's); None for a run's calls."""


@dataclass(frozen=True, slots=True)
class Completion:
    output: str
    usage: TokenUsage
    finish_reason: str | None = None


@dataclass(frozen=True, slots=True)
class EmbeddingRequest:
    model: ModelRef
    inputs: list[str]


@dataclass(frozen=True, slots=True)
class Embeddings:
    vectors: list[list[float]]
    """One per input, in the inputs' order."""
    usage: TokenUsage
    """Input tokens only (``prompt_tokens`` = ``total_tokens``)."""


class EmbeddingProvider(Protocol):
    """A provider that also embeds texts (OpenAI-compatible, the mock; not Anthropic)."""

    kind: str

    async def embed(self, request: EmbeddingRequest) -> Embeddings: ...


def embedding_provider(provider: object) -> EmbeddingProvider | None:
    """``provider`` as an embedding provider, or None when it has no embeddings."""
    if callable(getattr(provider, "embed", None)):
        return provider  # type: ignore[return-value]
    return None


def no_embeddings_problem(kind: str, provider: str) -> str:
    return (
        f"provider {provider!r} ({kind}) has no embeddings endpoint; use an OpenAI-compatible "
        "provider or `mock`"
    )


class ModelProvider(Protocol):
    kind: str

    @property
    def max_concurrency(self) -> int | None:
        """Calls per run this provider allows at once; None means the global setting."""
        ...

    async def complete(self, request: CompletionRequest) -> Completion: ...

    async def aclose(self) -> None: ...


def _refused(error: BaseException) -> bool:
    """Whether the error's cause chain holds an OS-level connection failure (not a timeout)."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, OSError) and not isinstance(cause, TimeoutError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False
