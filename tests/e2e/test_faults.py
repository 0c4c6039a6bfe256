"""Faults lose nothing and double nothing, on real processes (the reduced round; the full one
is ``bench/fault_rounds.py``): during a run, each service is killed with SIGKILL at a random
point and started again, PostgreSQL is stopped immediately (a crash) and started again, and the
Kafka broker is killed and started again. The run then completes unattended, and
``tests/support/faults.verify`` finds every call, result, metric and event exactly once.

It runs on a private PostgreSQL + Kafka (``private_infra``), never on the shared test stack.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from tests.support.faults import (
    SERVICES,
    FaultInjector,
    Workload,
    create_prompt,
    describe,
    private_stack,
    query_api_client,
    services_report,
    start_run,
    trace_results,
    verify,
)
from tests.support.private_infra import PrivateInfra

# Process start-ups dominate: generous on a busy machine (CI's whole suite has 2 cores).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

WORKLOAD = Workload(runs=1, cases=250, repetitions=4, mock_latency_ms=50, mock_concurrency=2)


async def test_one_fault_round_loses_and_doubles_nothing(
    private_infra: PrivateInfra, tmp_path: Path
) -> None:
    seed = random.randrange(2**32)
    async with (
        private_stack(private_infra, tmp_path, WORKLOAD) as stack,
        query_api_client(stack) as client,
    ):
        version_id = await create_prompt(client)
        run_ids = [await start_run(client, version_id, WORKLOAD)]
        async with FaultInjector(stack, private_infra, random.Random(seed)) as injector:
            await injector.round(
                run_ids, WORKLOAD.calls_per_run, lambda: start_run(client, version_id, WORKLOAD)
            )
            # Each fault struck while calls were still being made.
            assert injector.log.all_mid_run(), (seed, injector.log.mid_run)
            await injector.settle()
            try:
                checked = await verify(client, stack, run_ids, WORKLOAD)
            except BaseException as failure:  # says why, as test_broker_restart's does
                failure.add_note(f"seed {seed}; {injector.log.describe()}")
                failure.add_note(describe(await trace_results(stack, run_ids)))
                failure.add_note(await asyncio.to_thread(private_infra.broker_report))
                failure.add_note(services_report(stack))
                raise
    assert injector.log.describe().startswith("1 round(s)"), injector.log.describe()
    assert sorted(injector.log.kills) == sorted(SERVICES)
    assert (injector.log.postgres_crashes, injector.log.broker_crashes) == (1, 1)
    print(injector.log.describe(), injector.log.mid_run, *checked.checked, sep="\n")
