"""The caches' keys.

The response cache: one answer per (rendered prompt, model, parameters, seed, repetition). The
repetition is part of the key, so repetitions of a case stay independent samples: a cached run
of 3 repetitions replays 3 answers, not one answer three times.

The embedding cache: one vector per (project, provider, model, text); an embedding model maps
a text to one vector, so there is nothing to sample."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from promptworks_contracts.projects import DEFAULT_PROJECT
from promptworks_contracts.values import ModelParameters, ModelRef, TokenUsage
from run_orchestrator.domain.rendering import Message


@dataclass(frozen=True, slots=True)
class CachedResponse:
    output: str
    usage: TokenUsage
    finish_reason: str | None


def cache_key(
    messages: list[Message],
    model: ModelRef,
    parameters: ModelParameters,
    repetition: int,
    project: str = DEFAULT_PROJECT,
) -> str:
    """Per project (ADR 0017): one project's answers never answer another's calls. The
    ``default`` project's keys are those from before projects, so its cache stays warm."""
    document: dict[str, object] = {
        "messages": [[m.role, m.content] for m in messages],
        "model": model.model_dump(mode="json"),
        "parameters": parameters.model_dump(mode="json"),  # the seed is one of them
        "repetition": repetition,
    }
    if project != DEFAULT_PROJECT:
        document["project"] = project
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def embedding_key(project: str, provider: str, model: str, text: str) -> str:
    """The shared embedding cache's key: one vector per (project, provider name, model, text).
    Per project, like the response cache: projects name their providers independently."""
    canonical = json.dumps([project, provider, model, text], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
