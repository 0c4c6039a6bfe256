"""Measuring embedding similarities for a batch of results: each text embedded once per
(run, provider, model), the calls concurrent and bounded.

- The texts of a batch's questions (outputs and references) are looked up in a per-process
  cache keyed by (run, provider, model, text); the missing ones are embedded, one call per
  distinct text (so each text's tokens and cost are exact), at most ``concurrency`` at once.
  A case's reference is embedded once for all its repetitions, in this batch and later ones.
- A text's embedding is paid for by the first question that needed it (its evaluation scope,
  result and assertion): that question's ``EmbeddingComparison`` carries the usage and cost,
  later ones carry none. A batch that rolls back and is redelivered to this process finds the
  cache filled and attributes the same spend to the same question again (paid once, recorded
  once); another process embeds again (paid twice, recorded once), as for a judge before
  judgements were kept (ADR 0024).
- A failed call is not cached: the next batch asks again. Its questions get an error and no
  similarity.
- The cache is bounded (least recently used out); vectors are kept as ``array('d')``.
"""

from __future__ import annotations

import asyncio
from array import array
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple
from uuid import UUID

from evaluator.domain.embedding import EmbeddingQuestion, cosine
from evaluator.domain.subject import short
from evaluator.handlers.ports import EmbeddingClient
from promptworks_contracts.api.embeddings import EmbeddingCallRequest
from promptworks_contracts.values import EmbeddingComparison, ModelRef, Money, TokenUsage

CacheKey = tuple[str, str, str, str]
"""(run id, provider, model, text)."""
Owner = tuple[str, UUID, str]
"""(evaluation scope, result id, assertion name): who paid for a text's embedding."""


@dataclass(frozen=True, slots=True)
class _Entry:
    vector: array[float]
    owner: Owner
    usage: TokenUsage
    cost: Money | None


class _Failed(NamedTuple):
    error: str


class EmbeddingMeter:
    def __init__(self, client: EmbeddingClient, concurrency: int, capacity: int = 4096) -> None:
        self._client = client
        self._gate = asyncio.Semaphore(concurrency)
        self._capacity = capacity
        self._cache: OrderedDict[CacheKey, _Entry] = OrderedDict()

    async def measure(
        self, questions: Sequence[EmbeddingQuestion], scope: str
    ) -> dict[UUID, dict[str, EmbeddingComparison]]:
        """result id -> assertion name -> its comparison, for every question."""
        if not questions:
            return {}
        found: dict[CacheKey, _Entry | _Failed] = {}
        wanted: dict[CacheKey, tuple[Owner, str]] = {}
        for question in questions:
            owner = (scope, question.result_id, question.name)
            for key in _keys(question):
                entry = self._cache.get(key)
                if entry is not None:
                    self._cache.move_to_end(key)
                    found[key] = entry
                elif key not in wanted:
                    wanted[key] = (owner, question.project)
        fetched = await asyncio.gather(
            *(self._fetch(key, owner, project) for key, (owner, project) in wanted.items())
        )
        for key, got in zip(wanted, fetched, strict=True):
            found[key] = got
            if isinstance(got, _Entry):
                self._cache[key] = got
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        measured: dict[UUID, dict[str, EmbeddingComparison]] = {}
        for question in questions:
            owner = (scope, question.result_id, question.name)
            measured.setdefault(question.result_id, {})[question.name] = _compare(
                question, [found[key] for key in _keys(question)], owner
            )
        return measured

    async def _fetch(self, key: CacheKey, owner: Owner, project: str) -> _Entry | _Failed:
        _, provider, model, text = key
        async with self._gate:
            answer = await self._client.embed(
                EmbeddingCallRequest(provider=provider, model=model, inputs=[text]), project
            )
        if answer.error is not None:
            return _Failed(short(f"embedding call failed: {answer.error}", 2000))
        if len(answer.vectors) != 1 or not answer.vectors[0]:
            return _Failed("embedding call answered no vector")
        return _Entry(array("d", answer.vectors[0]), owner, answer.usage, answer.cost)


def _keys(question: EmbeddingQuestion) -> list[CacheKey]:
    """The question's distinct texts' keys (output first)."""
    base = (question.run_id, question.assertion.provider, question.assertion.model)
    keys = [(*base, question.output)]
    if question.reference != question.output:
        keys.append((*base, question.reference))
    return keys


def _compare(
    question: EmbeddingQuestion, entries: Sequence[_Entry | _Failed], owner: Owner
) -> EmbeddingComparison:
    model = ModelRef(provider=question.assertion.provider, name=question.assertion.model)
    paid = [e for e in entries if isinstance(e, _Entry) and e.owner == owner]
    usage = TokenUsage(
        prompt_tokens=sum(e.usage.prompt_tokens for e in paid),
        completion_tokens=0,
        total_tokens=sum(e.usage.total_tokens for e in paid),
    )
    cost = _sum_costs([e.cost for e in paid])
    failed = [e.error for e in entries if isinstance(e, _Failed)]
    if failed:
        return EmbeddingComparison(
            name=question.name, model=model, error=failed[0], usage=usage, cost=cost
        )
    vectors = [e.vector for e in entries if isinstance(e, _Entry)]
    similarity = cosine(vectors[0], vectors[-1])
    if similarity is None:
        return EmbeddingComparison(
            name=question.name,
            model=model,
            error="the embeddings cannot be compared (different sizes, or a zero vector)",
            usage=usage,
            cost=cost,
        )
    return EmbeddingComparison(
        name=question.name, model=model, similarity=similarity, usage=usage, cost=cost
    )


def _sum_costs(costs: Sequence[Money | None]) -> Money | None:
    total: Money | None = None
    for cost in costs:
        if cost is None:
            continue
        if total is None:
            total = cost
        elif cost.currency == total.currency:
            total = Money(amount=total.amount + cost.amount, currency=total.currency)
    return total
