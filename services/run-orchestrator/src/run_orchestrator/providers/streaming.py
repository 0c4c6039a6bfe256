"""Streaming one completion: text as it is produced, then the whole completion.

Providers that can stream have ``stream(request)``; for any other, the whole answer is one
delta. Only the quick test streams: runs record whole answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import cast

from run_orchestrator.providers.base import Completion, CompletionRequest, ModelProvider


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


StreamPart = TextDelta | Completion
"""Deltas, then exactly one Completion (the whole output, usage, finish reason)."""

Streamer = Callable[[CompletionRequest], AsyncIterator[StreamPart]]


async def stream_completion(
    provider: ModelProvider, request: CompletionRequest
) -> AsyncIterator[StreamPart]:
    streamer = cast(Streamer | None, getattr(provider, "stream", None))
    if streamer is None:
        completion = await provider.complete(request)
        if completion.output:
            yield TextDelta(completion.output)
        yield completion
        return
    async for part in streamer(request):
        yield part
