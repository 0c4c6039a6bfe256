"""The built-in deterministic ``mock`` provider, for demos, tests and benchmarks.

- model ``echo`` answers the rendered prompt itself;
- model ``fail`` always fails;
- asked for structured output (a judge), any model answers JSON that fits the schema: each
  integer or number a hash of (prompt, its path) between 0 and 100, each string ``mock``;
- any other model answers ``mock answer <hex>``, a hash of (model, prompt, case, repetition);
- ``failure_rate`` fails that fraction of calls, chosen by hash, so a rerun fails the same ones;
- ``latency_ms`` is awaited before answering; token usage is the word count of prompt and output;
- embeddings (any model but ``fail``) are deterministic: each lower-cased word and character
  trigram is hashed into one of ``EMBEDDING_DIMENSIONS`` signed buckets, and the vector is
  normalised, so equal texts have cosine 1 and texts sharing words are close.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from promptworks_contracts.values import TokenUsage
from run_orchestrator.domain.rendering import prompt_text
from run_orchestrator.providers.base import (
    Completion,
    CompletionRequest,
    EmbeddingRequest,
    Embeddings,
    ProviderError,
)
from run_orchestrator.providers.streaming import StreamPart, TextDelta

ECHO_MODEL = "echo"
FAIL_MODEL = "fail"
WORDS = re.compile(r"\s*\S+\s*")
EMBEDDING_DIMENSIONS = 64


def _digest(salt: str, request: CompletionRequest, prompt: str) -> bytes:
    key = "\x00".join(
        (salt, request.model.name, prompt, str(request.case_index), str(request.repetition))
    )
    return hashlib.sha256(key.encode()).digest()


class MockProvider:
    kind = "mock"

    def __init__(
        self, *, latency_ms: float = 0.0, failure_rate: float = 0.0, max_concurrency: int = 1000
    ) -> None:
        self._latency = latency_ms / 1000.0
        self._failure_rate = failure_rate
        self._max_concurrency = max_concurrency

    @property
    def max_concurrency(self) -> int | None:
        return self._max_concurrency

    async def complete(self, request: CompletionRequest) -> Completion:
        if self._latency > 0:
            await asyncio.sleep(self._latency)
        prompt = prompt_text(request.messages)
        if request.model.name == FAIL_MODEL:
            raise ProviderError("mock model 'fail' always fails")
        if self._failure_rate > 0:
            draw = int.from_bytes(_digest("failure", request, prompt)[:8], "big") / 2**64
            if draw < self._failure_rate:
                raise ProviderError("mock failure (mock_failure_rate)")
        if request.response_format is not None:
            output = json.dumps(
                _fitting(request.response_format.json_schema, prompt, ""), ensure_ascii=False
            )
        elif request.model.name == ECHO_MODEL:
            output = prompt
        else:
            output = f"mock answer {_digest('answer', request, prompt)[:8].hex()}"
        prompt_words, output_words = len(prompt.split()), len(output.split())
        return Completion(
            output=output,
            usage=TokenUsage(
                prompt_tokens=prompt_words,
                completion_tokens=output_words,
                total_tokens=prompt_words + output_words,
            ),
            finish_reason="stop",
        )

    async def embed(self, request: EmbeddingRequest) -> Embeddings:
        if self._latency > 0:
            await asyncio.sleep(self._latency)
        if request.model.name == FAIL_MODEL:
            raise ProviderError("mock model 'fail' always fails")
        tokens = sum(len(text.split()) for text in request.inputs)
        return Embeddings(
            vectors=[mock_embedding(text) for text in request.inputs],
            usage=TokenUsage(prompt_tokens=tokens, completion_tokens=0, total_tokens=tokens),
        )

    async def stream(self, request: CompletionRequest) -> AsyncIterator[StreamPart]:
        """The whole answer, one word (with its trailing space) per delta."""
        completion = await self.complete(request)
        for word in WORDS.findall(completion.output):
            yield TextDelta(word)
        yield completion

    async def aclose(self) -> None:
        return None


def _fitting(schema: Any, prompt: str, path: str, depth: int = 0) -> Any:
    """A deterministic JSON value valid under a simple schema (objects, arrays, scalars); any
    other shape, or nesting deeper than 20, gets a string (the schema comes from a request)."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if kind == "object" and depth < 20:
        fields = properties if isinstance(properties, dict) else {}
        return {
            str(name): _fitting(sub, prompt, f"{path}/{name}", depth + 1)
            for name, sub in fields.items()
        }
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        digest = hashlib.sha256(f"{prompt}\x00{path}".encode()).digest()
        return int.from_bytes(digest[:4], "big") % 101
    if kind == "boolean":
        return True
    enum = schema.get("enum") if isinstance(schema, dict) else None
    if isinstance(enum, list) and enum:
        return enum[0]
    return "mock"


def mock_embedding(text: str) -> list[float]:
    """A deterministic unit vector of the text's words and character trigrams (signed feature
    hashing); the empty text gets the first axis."""
    vector = [0.0] * EMBEDDING_DIMENSIONS
    lowered = text.lower()
    features = lowered.split() + [lowered[i : i + 3] for i in range(max(0, len(lowered) - 2))]
    for feature in features:
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        bucket = int.from_bytes(digest[:4], "big") % EMBEDDING_DIMENSIONS
        vector[bucket] += 1.0 if digest[4] & 1 else -1.0
    norm = sum(v * v for v in vector) ** 0.5
    if norm == 0.0:
        return [1.0] + [0.0] * (EMBEDDING_DIMENSIONS - 1)
    return [v / norm for v in vector]
