"""Nothing lost, nothing doubled: the Kafka broker is killed (-9) in the middle of a run, while
the orchestrator is still making calls (and goes on making them while the broker is down), then
started again, with all four services running as real processes. The run still ends with every
result, and every result evaluated exactly once: ``tests/support/faults.verify`` checks the
API, query-api's and the evaluator's tables, the event stores (one ``result_evaluated`` per
result, ``evaluated`` == calls) and the topics (duplicate copies counted and dropped).

This test runs on the fault tests' private PostgreSQL + Kafka (``private_infra``), so it can
kill the broker without disturbing the other tests.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.faults import (
    Workload,
    orchestrator_progress,
    private_stack,
    query_api_client,
    services_report,
    start_runs,
    verify,
)
from tests.support.private_infra import PrivateInfra

# Process start-ups dominate: generous on a busy machine (CI's whole suite has 2 cores).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

# Slow, bounded calls so that the run is still going when the broker dies.
WORKLOAD = Workload(runs=1, cases=1500, repetitions=1, mock_latency_ms=20, mock_concurrency=10)


async def test_broker_killed_and_restarted_mid_run_loses_and_doubles_nothing(
    private_infra: PrivateInfra, tmp_path: Path
) -> None:
    total = WORKLOAD.calls_per_run
    async with (
        private_stack(private_infra, tmp_path, WORKLOAD) as stack,
        query_api_client(stack) as client,
    ):
        run_ids = await start_runs(client, WORKLOAD)
        async with asyncio.timeout(60):
            while await orchestrator_progress(stack, run_ids) < 200:
                await asyncio.sleep(0.05)
        await asyncio.to_thread(private_infra.crash_broker)
        at_kill = await orchestrator_progress(stack, run_ids)
        assert at_kill < total  # truly mid-run: calls still to make
        await asyncio.sleep(3)  # the services keep working (and failing to publish) meanwhile
        while_down = await orchestrator_progress(stack, run_ids)
        await asyncio.to_thread(private_infra.up)
        assert while_down > at_kill, "calls went on while the broker was down"

        try:
            checked = await verify(client, stack, run_ids, WORKLOAD)
        except BaseException as failure:  # says why: the broker's state and the services' errors
            failure.add_note(await asyncio.to_thread(private_infra.broker_report))
            failure.add_note(services_report(stack))
            raise
    assert len(checked.checked) == 6
