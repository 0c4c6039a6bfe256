"""Fault rounds, the full version of tests/e2e/test_faults.py (see bench/README.md).

Starts a private PostgreSQL + Kafka (deploy/local/infra.sh on free ports, in a temporary state
dir, removed at the end) and the four services as processes on it. Each round starts runs of
``--cases`` x ``--repetitions`` calls on the slowed-down mock model, and while the orchestrator
is still calling, kills every service with SIGKILL at a random point (and starts it again),
stops PostgreSQL immediately and starts it again, and kills the broker and starts it again.
Then it waits until every run finished unattended and checks that everything happened exactly
once (tests/support/faults.verify). Prints what was done and what was checked.

    uv run python -m bench.fault_rounds [--rounds 3] [--runs 2] [--cases 1000] [--repetitions 2]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

import httpx

from devstack.services import Stack
from tests.support.faults import (
    FaultInjector,
    Workload,
    create_prompt,
    describe,
    private_stack,
    query_api_client,
    start_run,
    trace_results,
    verify,
)
from tests.support.private_infra import running_private_infra


async def one_round(
    client: httpx.AsyncClient, stack: Stack, injector: FaultInjector, workload: Workload
) -> None:
    started = time.monotonic()
    version_id = await create_prompt(client)
    run_ids = [await start_run(client, version_id, workload) for _ in range(workload.runs)]
    await injector.round(
        run_ids, workload.calls_per_run, lambda: start_run(client, version_id, workload)
    )
    await injector.settle()
    try:
        checked = await verify(client, stack, run_ids, workload)
    except AssertionError as failure:
        failure.add_note(injector.log.describe())
        failure.add_note(describe(await trace_results(stack, run_ids)))
        raise
    print(f"round {injector.log.rounds}: {len(run_ids)} runs, {time.monotonic() - started:.0f} s")
    for label, recorded, total in injector.log.mid_run[-6:]:
        print(f"  {label} at {recorded}/{total} calls of the newest run")
    for line in checked.checked:
        print(f"  ok: {line}")


async def main(args: argparse.Namespace) -> None:
    workload = Workload(
        runs=args.runs,
        cases=args.cases,
        repetitions=args.repetitions,
        mock_latency_ms=args.latency_ms,
        mock_concurrency=args.concurrency,
    )
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"seed {seed}; per round {workload.runs} run(s) x {workload.calls_per_run} calls")
    with (
        tempfile.TemporaryDirectory(prefix="fault-rounds-") as tmp,
        running_private_infra(Path(tmp) / "infra") as infra,
    ):
        async with (
            private_stack(infra, Path(tmp) / "stack", workload) as stack,
            query_api_client(stack) as client,
            FaultInjector(stack, infra, random.Random(seed)) as injector,
        ):
            for _ in range(args.rounds):
                await one_round(client, stack, injector, workload)
            assert injector.log.all_mid_run(), injector.log.mid_run
            print(injector.log.describe())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=2, help="runs started per round")
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--repetitions", type=int, default=2)
    parser.add_argument("--latency-ms", type=int, default=20, help="the mock model's latency")
    parser.add_argument("--concurrency", type=int, default=8, help="the mock model's concurrency")
    parser.add_argument("--seed", type=int, default=None)
    asyncio.run(main(parser.parse_args()))
