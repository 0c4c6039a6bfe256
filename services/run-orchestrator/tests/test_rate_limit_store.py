"""The shared rate-limit schedules in PostgreSQL (adapters/rate_limits.py): one atomic
reservation per call, whoever asks, and settlements that move the schedule."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from promptworks_eventkit.db import asyncpg_dsn
from run_orchestrator.adapters.rate_limits import PostgresRateLimitStore

pytestmark = pytest.mark.integration


async def test_concurrent_reservations_from_two_replicas_never_overlap(harness: Any) -> None:
    dsn = asyncpg_dsn(await harness.database_url())
    replicas = [PostgresRateLimitStore(dsn), PostgresRateLimitStore(dsn)]
    try:
        reserved = await asyncio.gather(
            *(replicas[i % 2].reserve("openai/gpt", 0.5) for i in range(40))
        )
        starts = sorted(start for start, _ in reserved)
        # Every reservation got its own half second: back to back, none shared, none skipped.
        assert [round(b - a, 6) for a, b in itertools.pairwise(starts)] == [0.5] * 39
        first_now = min(now for _, now in reserved)
        assert starts[0] == pytest.approx(first_now, abs=0.5)  # an idle schedule starts now
        tat = await harness.fetchval(
            "SELECT tat FROM rate_limit_schedules WHERE key = $1", "openai/gpt"
        )
        assert tat == pytest.approx(starts[-1] + 0.5)

        # Settling moves the schedule: over-estimates are given back.
        await replicas[0].adjust("openai/gpt", -2.0)
        start, _ = await replicas[1].reserve("openai/gpt", 0.5)
        assert start == pytest.approx(starts[-1] + 0.5 - 2.0)
        # Another key is another schedule.
        other, now = await replicas[1].reserve("anthropic/claude", 3.0)
        assert other == pytest.approx(now)
    finally:
        for store in replicas:
            await store.aclose()
