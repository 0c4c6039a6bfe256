"""Read side of one large run: the NDJSON export, pages of results, the live stream.

1. Produces one finished, evaluated run of N results to Kafka as real CloudEvents (RunCreated,
   RunStarted, N ResultRecorded, N ResultEvaluated with three metrics each, RunCompleted,
   RunEvaluated), each stream in order with contiguous versions.
2. Starts query-api as its own process on a fresh database; waits until its projection's
   offsets cover every event.
3. Over real HTTP: the whole run through `GET /results/export` (NDJSON, streamed; wall time,
   lines, bytes, and the server's peak RSS growth), pages of 50 results (`GET /results`, random
   offsets) at 1 and at 16 concurrent connections, and the live stream of the finished run
   (`/events`: connect to `end`).

    uv run python -m bench.results_read [--results 100000] [--requests 400] [--durable]

Without ``--durable`` it uses the running stack (``KAFKA_BOOTSTRAP_SERVERS`` and
``DATABASE_URL_BASE``: the shared test stack runs with ``fsync`` off). With ``--durable`` it
starts a private PostgreSQL + Kafka on free ports with durable settings (``fsync``,
``synchronous_commit`` and ``full_page_writes`` on; ``tests/support/private_infra.py``) in a
temporary directory, and deletes them at the end.
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
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import psutil
from aiokafka import AIOKafkaProducer

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
from promptworks_contracts.envelope import Envelope
from promptworks_contracts.events import (
    DomainEvent,
    ResultEvaluated,
    ResultRecorded,
    RunCompleted,
    RunCreated,
    RunEvaluated,
    RunStarted,
)
from promptworks_contracts.values import (
    MetricSummary,
    MetricValue,
    ModelParameters,
    ModelRef,
    TextTemplate,
    TokenUsage,
)
from promptworks_eventkit.db import asyncpg_dsn
from promptworks_eventkit.settings import KafkaSettings
from tests.support.fake_openai import free_port
from tests.support.infra import Infra, create_database, drop_database, isolated_kafka, migrate


def run_events(results: int) -> tuple[uuid.UUID, list[DomainEvent]]:
    run_id = uuid.uuid4()
    cases = max(1, results // 10)
    created = RunCreated(
        run_id=run_id,
        prompt_id=uuid.uuid4(),
        prompt_version_id=uuid.uuid4(),
        prompt_version_number=1,
        template=TextTemplate(text="Answer {{ q }}"),
        model=ModelRef(provider="mock", name="echo"),
        parameters=ModelParameters(),
        repetitions=10,
        cases=[{"q": f"question {i}"} for i in range(cases)],
        total_calls=cases * 10,
    )
    recorded = [
        ResultRecorded(
            run_id=run_id,
            result_id=uuid.uuid4(),
            case_index=i // 10,
            repetition=i % 10 + 1,
            output=f"Answer question {i // 10}: " + "lorem ipsum " * 8,
            latency_ms=12.5,
            usage=TokenUsage(prompt_tokens=12, completion_tokens=30, total_tokens=42),
            finish_reason="stop",
        )
        for i in range(cases * 10)
    ]
    evaluated = [
        ResultEvaluated(
            run_id=run_id,
            result_id=r.result_id,
            metrics=[
                MetricValue(name="latency_ms", value=r.latency_ms),
                MetricValue(name="contains_0", passed=r.case_index % 7 != 0, detail="checked"),
                MetricValue(name="output_chars", value=float(len(r.output or ""))),
            ],
        )
        for r in recorded
    ]
    finished = [
        RunCompleted(run_id=run_id, status="completed", succeeded=len(recorded), failed=0),
        RunEvaluated(
            run_id=run_id,
            evaluated=len(recorded),
            summaries=[MetricSummary(name="contains_0", count=len(recorded), pass_rate=0.857)],
        ),
    ]
    return run_id, [created, RunStarted(run_id=run_id), *recorded, *evaluated, *finished]


async def produce(kafka: KafkaSettings, events: list[DomainEvent]) -> None:
    versions: dict[tuple[str, str], int] = {}
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers,
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=1024 * 1024,
        max_request_size=kafka.max_message_bytes,
    )
    await producer.start()
    try:
        pending = []
        for event in events:
            key = (event.topic, event.stream_id())
            versions[key] = versions.get(key, 0) + 1
            envelope = Envelope(
                id=uuid.uuid4(),
                type=event.event_type,
                source="/bench",
                subject=event.stream_id(),
                time=datetime.now(UTC),
                correlationid="bench",
                streamversion=versions[key],
            )
            pending.append(
                await producer.send(
                    kafka.topic(event.topic),
                    key=envelope.subject.encode(),
                    value=event.model_dump_json().encode(),
                    headers=envelope.to_kafka_headers(),
                )
            )
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def wait_projected(database_url: str, events: int) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        while True:
            applied = await connection.fetchval(
                "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets"
            )
            if applied >= events:
                await connection.execute("VACUUM (ANALYZE) results, metrics, runs")
                return
            await asyncio.sleep(0.5)
    finally:
        await connection.close()


async def export(client: httpx.AsyncClient, run_id: uuid.UUID, pid: int) -> dict[str, Any]:
    process = psutil.Process(pid)
    before, peak = process.memory_info().rss, 0
    started = time.perf_counter()
    lines = size = 0
    async with client.stream("GET", f"/api/v1/test_prompt/{run_id}/results/export") as answer:
        assert answer.status_code == 200
        async for chunk in answer.aiter_bytes():
            lines += chunk.count(b"\n")
            size += len(chunk)
            peak = max(peak, process.memory_info().rss)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "lines": lines,
        "megabytes": round(size / 1e6, 1),
        "server_rss_growth_mb": round((peak - before) / 1e6, 1),
    }


async def pages(
    base_url: str,
    run_id: uuid.UUID,
    total: int,
    requests: int,
    connections: int,
    headers: dict[str, str],
    server: subprocess.Popen[bytes],
    database: str,
) -> dict[str, Any]:
    """Pages of 50 at random offsets (seeded)."""
    rng = random.Random(3)
    path = f"/api/v1/test_prompt/{run_id}/results"

    def params(_: int) -> dict[str, Any]:
        return {"limit": 50, "offset": rng.randrange(0, max(1, total - 50))}

    return await concurrent(
        base_url, headers, path, params, requests, connections, server, database=database
    )


async def live(client: httpx.AsyncClient, run_id: uuid.UUID) -> dict[str, Any]:
    started = time.perf_counter()
    answer = await client.get(f"/api/v1/test_prompt/{run_id}/events")
    events = [line for line in answer.text.splitlines() if line.startswith("event:")]
    return {"ms": round((time.perf_counter() - started) * 1000, 1), "events": events}


async def main(
    results: int, requests: int, infra: Infra, workers: int = 1, profile: str | None = None
) -> dict[str, Any]:
    kafka = await isolated_kafka(infra)
    url = await create_database(infra, "query_api_bench")
    process = None
    try:
        await migrate("query-api", url)
        run_id, events = run_events(results)
        await produce(kafka, events)
        port = free_port()
        started = time.perf_counter()
        process = start_query_api(url, kafka, port, workers=workers, profile=profile)
        await wait_projected(url, len(events))
        projected = time.perf_counter() - started
        base = f"http://127.0.0.1:{port}"
        await wait_serving(base)
        headers = await stored_key_headers(base)
        async with httpx.AsyncClient(base_url=base, timeout=120, headers=headers) as client:
            await client.get(f"/api/v1/test_prompt/{run_id}/results", params={"limit": 50})
            exported = [await export(client, run_id, process.pid) for _ in range(3)]
            name = database_name(url)
            one = await pages(base, run_id, results, requests, 1, headers, process, name)
            sixteen = await pages(base, run_id, results, requests, 16, headers, process, name)
            stream = await live(client, run_id)
    finally:
        if process is not None:
            stop_query_api(process, profile is not None)
        await drop_database(infra, url)
    return {
        "nproc": os.cpu_count(),
        "query_api_workers": workers,
        "page_cache_bytes": page_cache_bytes(),
        "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
        "results": results,
        "events": len(events),
        "projection_seconds": round(projected, 1),
        "export": exported,
        "page_of_50_ms": {"1 connection": one, "16 connections": sixteen},
        "live_stream_of_a_finished_run": stream,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument(
        "--durable", action="store_true", help="a private PostgreSQL with fsync on (see above)"
    )
    parser.add_argument("--workers", type=int, default=1, help="query-api's HTTP workers")
    parser.add_argument("--profile", help="run query-api under cProfile, stats to this file")
    args = parser.parse_args()
    print("load average at start:", [round(x, 1) for x in os.getloadavg()], flush=True)
    with chosen_infra(args.durable) as infra:
        report = asyncio.run(main(args.results, args.requests, infra, args.workers, args.profile))
        print(json.dumps(report, indent=2))
