"""Benchmark: the run list (``GET /test_prompt``) with N runs in query-api.

1. Produces N finished runs to Kafka as real CloudEvents (``RunCreated``, ``RunStarted``,
   ``RunCompleted`` each, in stream order with contiguous versions), spread over 50 prompts,
   3 providers and 10 batches (created when produced: ``created_after`` a week ago matches
   every run).
2. Starts query-api as its own process on a fresh database; waits until its projection's
   offsets cover every event (then ``VACUUM (ANALYZE)``).
3. Over real HTTP, at 1 and at 16 concurrent connections: the first page
   (``?limit=50``), a deep page (``offset`` N/2), and filtered first pages (``status``,
   ``prompt_id``, ``provider``, ``created_after``), each with ``X-Total-Count``.

    uv run python -m bench.runs_read [--runs 10000] [--requests 400] [--durable]

``--durable``: a private PostgreSQL with ``fsync`` on, as in ``bench.results_read``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench.prompt_list import (
    chosen_infra,
    concurrent,
    database_name,
    page_cache_bytes,
    start_query_api,
    stop_query_api,
    stored_key_headers,
    wait_serving,
)
from bench.results_read import produce
from promptworks_contracts.events import DomainEvent, RunCompleted, RunCreated, RunStarted
from promptworks_contracts.values import ModelParameters, ModelRef, TextTemplate
from promptworks_eventkit.db import asyncpg_dsn
from tests.support.fake_openai import free_port
from tests.support.infra import Infra, create_database, drop_database, isolated_kafka, migrate

PROVIDERS = ("mock", "openai", "anthropic")


def run_events(runs: int) -> tuple[list[uuid.UUID], list[DomainEvent]]:
    rng = random.Random(7)
    prompts = [uuid.uuid4() for _ in range(50)]
    events: list[DomainEvent] = []
    for i in range(runs):
        run_id = uuid.uuid4()
        events += [
            RunCreated(
                run_id=run_id,
                prompt_id=rng.choice(prompts),
                prompt_version_id=uuid.uuid4(),
                prompt_version_number=1,
                template=TextTemplate(text="Answer {{ q }}"),
                model=ModelRef(provider=PROVIDERS[i % 3], name="echo"),
                parameters=ModelParameters(),
                repetitions=1,
                cases=[{"q": "question"}],
                total_calls=1,
                batch_id=f"batch-{i % 10}",
            ),
            RunStarted(run_id=run_id),
            RunCompleted(run_id=run_id, status="completed", succeeded=1, failed=0),
        ]
    return prompts, events


async def wait_projected(database_url: str, events: int) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        while (
            await connection.fetchval("SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets")
            < events
        ):
            await asyncio.sleep(0.5)
        await connection.execute("VACUUM (ANALYZE) runs")
    finally:
        await connection.close()


async def scenario(
    base_url: str,
    params: dict[str, Any],
    requests: int,
    connections: int,
    headers: dict[str, str],
    server: subprocess.Popen[bytes],
    database: str | None = None,
) -> dict[str, Any]:
    return await concurrent(
        base_url,
        headers,
        "/api/v1/test_prompt",
        lambda _: params,
        requests,
        connections,
        server,
        expect_header="X-Total-Count",
        database=database,
    )


async def main(
    runs: int,
    requests: int,
    infra: Infra,
    workers: int = 1,
    profile: str | None = None,
    only: str | None = None,
) -> dict[str, Any]:
    kafka = await isolated_kafka(infra)
    url = await create_database(infra, "query_api_bench")
    process = None
    try:
        await migrate("query-api", url)
        prompts, events = run_events(runs)
        await produce(kafka, events)
        port = free_port()
        started = time.perf_counter()
        process = start_query_api(url, kafka, port, workers=workers, profile=profile)
        await wait_projected(url, len(events))
        projected = time.perf_counter() - started
        base = f"http://127.0.0.1:{port}"
        await wait_serving(base)
        headers = await stored_key_headers(base)
        week_ago = (datetime.now(UTC) - timedelta(days=7)).isoformat()
        scenarios: dict[str, dict[str, Any]] = {
            "first page": {"limit": 50},
            "offset N/2": {"limit": 50, "offset": runs // 2},
            "status=completed": {"limit": 50, "status": "completed"},
            "prompt_id=": {"limit": 50, "prompt_id": str(prompts[0])},
            "provider=openai": {"limit": 50, "provider": "openai"},
            "created_after=": {"limit": 50, "created_after": week_ago},
        }
        measured: dict[str, Any] = {}
        for name, params in scenarios.items():
            if only is not None and name != only:
                continue
            await scenario(base, params, 10, 1, headers, process)  # warm-up
            measured[name] = {
                f"{count} connection{'s' * (count > 1)}": await scenario(
                    base, params, requests, count, headers, process, database_name(url)
                )
                for count in (1, 16)
            }
    finally:
        if process is not None:
            stop_query_api(process, profile is not None)
        await drop_database(infra, url)
    return {
        "nproc": os.cpu_count(),
        "query_api_workers": workers,
        "page_cache_bytes": page_cache_bytes(),
        "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
        "runs": runs,
        "events": len(events),
        "projection_seconds": round(projected, 1),
        "ms": measured,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--durable", action="store_true")
    parser.add_argument("--workers", type=int, default=1, help="query-api's HTTP workers")
    parser.add_argument("--profile", help="run query-api under cProfile, stats to this file")
    parser.add_argument("--only", help="one scenario by name, e.g. 'first page'")
    args = parser.parse_args()
    print("load average at start:", [round(x, 1) for x in os.getloadavg()], flush=True)
    with chosen_infra(args.durable) as infra:
        report = asyncio.run(
            main(args.runs, args.requests, infra, args.workers, args.profile, args.only)
        )
        print(json.dumps(report, indent=2))
