"""Asking a judge model about results: the bounded re-ask loop and the batch's concurrency.

- One ``Judgement`` per (result, judge assertion) asked: its scores, or an error after
  ``max_attempts`` unusable answers, or after a call that failed (the provider's retries are
  run-orchestrator's; a failed call is not asked again here).
- A re-ask quotes the unusable answer back with what was wrong with it.
- Usage and cost add up over all attempts: every call is paid for.
- At most ``concurrency`` judge calls of a consumer batch are in flight at once.
- Idempotent: with a ``JudgementStore``, each question has a key (evaluation, result, judge),
  a judgement that was paid for is kept at once in its OWN transaction, and a question whose
  judgement is kept is not asked again. So a batch that rolls back after its judge calls
  (a crash, a conflict) finds them on redelivery and does not pay twice. The batch's
  transaction forgets the keys it used (``EvaluationRepository.forget_judgements``): once it
  commits they are not needed, so the table holds only judgements of uncommitted batches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from evaluator.domain.judge import ask_again, judge_messages, overall, read_answer, response_format
from evaluator.domain.plan import JudgeQuestion
from evaluator.domain.subject import short
from evaluator.handlers.ports import CompletionClient
from promptworks_contracts.api.completions import CompletionCallRequest, CompletionMessage
from promptworks_contracts.values import (
    Judgement,
    ModelParameters,
    ModelRef,
    Money,
    TokenUsage,
)


async def ask_judge(client: CompletionClient, question: JudgeQuestion) -> Judgement:
    name, assertion, subject, project = question
    messages = judge_messages(assertion, subject)
    model = ModelRef(provider=assertion.provider, name=assertion.model)
    usage = TokenUsage()
    cost: Money | None = None
    priced = True
    problem = "not asked"
    for attempt in range(1, assertion.max_attempts + 1):
        answer = await client.complete(
            CompletionCallRequest(
                provider=assertion.provider,
                model=assertion.model,
                messages=messages,
                parameters=ModelParameters(
                    temperature=assertion.temperature, max_tokens=assertion.max_tokens
                ),
                response_format=response_format(assertion.dimensions),
                purpose="judge",
            ),
            project,
        )
        usage = add_usage(usage, answer.usage)
        if answer.error is None:
            if answer.cost is None:
                priced = False
            else:
                cost = add_cost(cost, answer.cost)
        if answer.error is not None:
            return _failed(name, model, f"judge call failed: {answer.error}", attempt, usage, cost)
        scores, problem_found = read_answer(answer.output or "", assertion.dimensions)
        if scores is not None:
            return Judgement(
                name=name,
                model=model,
                scores=scores,
                score=overall(scores, assertion.dimensions),
                attempts=attempt,
                usage=usage,
                cost=cost if priced else None,
            )
        problem = problem_found or "unusable"
        messages = [
            *messages,
            CompletionMessage(role="assistant", content=short(answer.output or "", 4000)),
            CompletionMessage(role="user", content=ask_again(problem)),
        ]
    return _failed(
        name,
        model,
        f"no usable answer in {assertion.max_attempts} attempt(s): {problem}",
        assertion.max_attempts,
        usage,
        cost if priced else None,
    )


def _failed(
    name: str, model: ModelRef, error: str, attempts: int, usage: TokenUsage, cost: Money | None
) -> Judgement:
    return Judgement(
        name=name,
        model=model,
        error=short(error, 2000),
        attempts=attempts,
        usage=usage,
        cost=cost,
    )


def add_usage(total: TokenUsage, more: TokenUsage) -> TokenUsage:
    return TokenUsage(
        prompt_tokens=total.prompt_tokens + more.prompt_tokens,
        completion_tokens=total.completion_tokens + more.completion_tokens,
        total_tokens=total.total_tokens + more.total_tokens,
    )


def add_cost(total: Money | None, more: Money) -> Money:
    if total is None:
        return more
    if total.currency != more.currency:  # one judge model, one price: cannot happen
        return total
    return Money(amount=total.amount + more.amount, currency=total.currency)


class JudgementStore(Protocol):
    """Judgements kept outside the batch's transaction, by question key."""

    async def recall(self, keys: Sequence[str]) -> dict[str, Judgement]: ...

    async def keep(self, key: str, judgement: Judgement) -> None: ...


def paid_for(judgement: Judgement) -> bool:
    """A judgement something was paid for (a failed call before any answer was not: asking
    again, e.g. once run-orchestrator is back, is right)."""
    return judgement.error is None or judgement.usage.total_tokens > 0 or judgement.cost is not None


class JudgeQueue:
    """Runs a batch's judge questions concurrently, at most ``concurrency`` at once."""

    def __init__(
        self, client: CompletionClient, concurrency: int, store: JudgementStore | None = None
    ) -> None:
        self._client = client
        self._gate = asyncio.Semaphore(concurrency)
        self._store = store

    async def ask(
        self,
        questions: Sequence[JudgeQuestion],
        keys: Sequence[str] | None = None,
    ) -> list[Judgement]:
        """One judgement per question, in order; ``keys`` (one per question) make the asking
        idempotent when the queue has a store."""
        kept: dict[str, Judgement] = {}
        if keys is not None and self._store is not None:
            kept = await self._store.recall(keys)

        async def one(index: int, question: JudgeQuestion) -> Judgement:
            key = None if keys is None else keys[index]
            if key is not None and key in kept:
                return kept[key]
            async with self._gate:
                judgement = await ask_judge(self._client, question)
            if key is not None and self._store is not None and paid_for(judgement):
                await self._store.keep(key, judgement)
            return judgement

        return list(await asyncio.gather(*(one(i, q) for i, q in enumerate(questions))))
