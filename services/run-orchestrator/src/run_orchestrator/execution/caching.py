"""The response cache for one run (runs created with ``cache: true``).

At the run's start every pending pair's key is computed and the cache is read once for all of
them (in chunks), so a cached run costs one query, not one per call. New answers are written
with the results they belong to (the recorder's flush), so an answer is in the cache exactly
when its result is recorded, and every replica sees it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from promptworks_contracts.events import ResultRecorded
from promptworks_contracts.values import Money
from run_orchestrator.domain.caching import CachedResponse, cache_key
from run_orchestrator.domain.rendering import render_messages
from run_orchestrator.execution.state import ExecutorPort, RunState


async def prefetch(port: ExecutorPort, state: RunState, ttl_seconds: float) -> None:
    created = state.created

    def keys() -> dict[tuple[int, int], str]:
        found: dict[tuple[int, int], str] = {}
        for case, repetition in state.pairs():
            if (case, repetition) in state.done:
                continue
            variables = created.cases[case] if created.cases else {}
            messages = render_messages(created.template, variables)
            found[(case, repetition)] = cache_key(
                messages, created.model, created.parameters, repetition, created.project_id
            )
        return found

    state.cache_keys = await asyncio.to_thread(keys)
    not_before = datetime.now(UTC) - timedelta(seconds=ttl_seconds)
    async with port.transaction() as tx:
        state.cache_hits = await tx.repos.cached_responses(
            sorted(set(state.cache_keys.values())), not_before
        )


def cached_result(state: RunState, case_index: int, repetition: int) -> ResultRecorded | None:
    """The result answered from the cache, or None when the cache has no answer (its id is
    drawn only for a hit: a run without the cache draws none)."""
    key = state.cache_keys.get((case_index, repetition))
    answer: CachedResponse | None = state.cache_hits.get(key) if key else None
    if answer is None:
        return None
    pricing = state.created.pricing
    return ResultRecorded(
        run_id=state.run_id,
        result_id=uuid4(),
        case_index=case_index,
        repetition=repetition,
        output=answer.output,
        latency_ms=0.0,
        usage=answer.usage,
        finish_reason=answer.finish_reason,
        cost=None if pricing is None else Money(amount=0, currency=pricing.currency),
        cached=True,
    )
