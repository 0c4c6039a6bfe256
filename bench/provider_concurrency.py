"""Benchmark: one run of 1,000 calls to a loopback OpenAI-compatible server that answers in
200 ms, at concurrency 200. The physical limit is 1.0 s (5 waves of 200 x 200 ms).

Three figures, each against the same server (``bench/openai_server.py``, aiohttp.web, as its
own process; ``--server fake`` uses the tests' FastAPI fake instead, which costs more CPU):
1. ``aiohttp_baseline_s``: a plain aiohttp client making the 1,000 calls (what the server and
   the machine allow);
2. ``provider_s``: the orchestrator's call stack in this process (``ProviderCalls`` +
   ``OpenAICompatibleProvider`` on the SDK's aiohttp transport), without a database;
3. ``run_s``: run-orchestrator as its own process on real PostgreSQL and Kafka: a run of
   1,000 cases, timed from the run's start (``RunStarted`` in the event store) to its last
   recorded ``ResultRecorded`` (``recorded_at``, the same process's clock), and from the POST
   until ``RunCompleted`` is stored.

``--compare`` adds the SDK's typed ``chat.completions.create`` on httpx, the SDK's default
client, and on aiohttp; and the provider's call alone (no executor stack) through the SDK's
generic ``post`` as it built every request before ADR 0021 (``sdk_post``), through the SDK's
``request`` reusing each path's request (``templated_post``, ADR 0021) and as the provider
calls now, that request sent straight through the SDK's aiohttp session (``direct_post``).

Every figure has its wall time and the CPU seconds it cost (this process; the orchestrator
process's from /proc): CPU time is far less sensitive than wall time to other work on the
machine, so compare CPU figures when the machine is shared.

    uv run python -m bench.provider_concurrency [--calls 1000] [--concurrency 200] [--runs 3]
        [--server lean|fake] [--compare] [--durable] [--profile DIR]

Uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL_BASE when set, else starts the test stack;
``--durable`` starts a private PostgreSQL + Kafka with fsync on instead (deleted at the end).
``--profile DIR`` samples the orchestrator with py-spy during the runs (DIR/run-orchestrator.txt,
folded stacks; it costs CPU, so such figures are not headline figures).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import httpx
import httpx2
import openai

from bench.e2e_run import chosen_infra, sampled
from promptworks_contracts.events import PromptVersionCreated
from promptworks_contracts.values import ModelParameters, ModelRef, TextTemplate, VariableSpec
from promptworks_eventkit.db import asyncpg_dsn
from run_orchestrator.domain.rendering import Message
from run_orchestrator.execution.calls import ProviderCalls
from run_orchestrator.providers.base import CompletionRequest
from run_orchestrator.providers.openai_compat import (
    OpenAICompatibleProvider,
    TemplatedAsyncOpenAI,
)
from run_orchestrator.providers.pool import pool_limits
from run_orchestrator.settings import RunOrchestratorSettings
from tests.support.credentials import service_headers
from tests.support.fake_openai import free_port
from tests.support.infra import (
    REPO,
    Infra,
    create_database,
    delete_topics,
    drop_database,
    isolated_kafka,
    migrate,
)
from tests.support.kafka import envelope_for, produce
from tests.support.service_process import service_process

LATENCY = 0.2
TIMEOUT = 60.0
"""Generous: on a loaded machine 200 connections can take longer than the SDK's 5-s connect
timeout to open, which fails a benchmark rather than slowing it."""
BODY = {"model": "bench", "messages": [{"role": "user", "content": "Hello"}]}


@contextlib.asynccontextmanager
async def fake_server(latency: float, module: str = "bench.openai_server") -> AsyncIterator[str]:
    """The OpenAI-compatible server as its own process; yields its base URL."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        "--port",
        str(port),
        "--latency",
        str(latency),
        cwd=REPO,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                try:
                    await client.post(f"{base_url}/chat/completions", json=BODY)
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        yield base_url
    finally:
        process.terminate()
        await process.wait()


@dataclass(frozen=True)
class Timing:
    wall_s: float
    cpu_s: float
    """CPU seconds this process spent (user + system): far less sensitive than wall time to
    other work on the machine."""


async def timed(work: Awaitable[object]) -> Timing:
    cpu, wall = time.process_time(), time.perf_counter()
    await work
    return Timing(time.perf_counter() - wall, time.process_time() - cpu)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (/proc, Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def aiohttp_baseline(base_url: str, calls: int, concurrency: int) -> Timing:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        gate = asyncio.Semaphore(concurrency)

        async def call() -> None:
            async with gate, session.post(f"{base_url}/chat/completions", json=BODY) as answer:
                answer.raise_for_status()
                await answer.json()

        return await timed(asyncio.gather(*(call() for _ in range(calls))))


async def provider_stack(base_url: str, calls: int, concurrency: int) -> Timing:
    settings = RunOrchestratorSettings(
        providers={"bench": {"base_url": base_url, "max_concurrency": concurrency}},
        max_parallel_runs=1,
    )
    provider = OpenAICompatibleProvider("bench", settings.providers["bench"], pool_size=concurrency)
    stack = ProviderCalls(settings, limiter=None)
    request = CompletionRequest(
        model=ModelRef(provider="bench", name="bench"),
        parameters=ModelParameters(),
        messages=[Message("user", "Hello")],
        case_index=0,
        repetition=1,
    )
    gate = asyncio.Semaphore(concurrency)

    async def call() -> None:
        async with gate:
            await stack.complete(provider, request, concurrency)

    try:
        # The SDK detects the platform on a client's first call; the service's client lives
        # for the process, so that is done before timing.
        await call()
        return await timed(asyncio.gather(*(call() for _ in range(calls))))
    finally:
        await provider.aclose()


async def sdk_create(base_url: str, calls: int, concurrency: int, transport: str) -> Timing:
    """The SDK's typed ``chat.completions.create``, as the provider called it before, on
    ``httpx`` (the SDK's default client) or ``aiohttp``: the comparison."""
    http_client = (
        openai.DefaultAioHttpClient(limits=pool_limits(concurrency), timeout=TIMEOUT)
        if transport == "aiohttp"
        else openai.DefaultAsyncHttpxClient(timeout=TIMEOUT)
    )
    client = openai.AsyncOpenAI(
        base_url=base_url, api_key="none", max_retries=0, timeout=TIMEOUT, http_client=http_client
    )
    gate = asyncio.Semaphore(concurrency)

    async def call() -> None:
        async with gate:
            await client.chat.completions.create(
                model="bench", messages=[{"role": "user", "content": "Hello"}]
            )

    try:
        await call()
        return await timed(asyncio.gather(*(call() for _ in range(calls))))
    finally:
        await client.close()


async def sdk_post(base_url: str, calls: int, concurrency: int, variant: str) -> Timing:
    """One call as the provider makes it, without the executor's stack, on the SDK's aiohttp
    client: ``sdk``, the SDK's generic ``post`` building every request (before ADR 0021);
    ``templated``, the SDK's ``request`` with each path's request reused (ADR 0021);
    ``direct``, the provider's call now: the reused request sent straight through the SDK's
    aiohttp session (ADR 0021's addendum, providers/direct.py)."""
    client_class = openai.AsyncOpenAI if variant == "sdk" else TemplatedAsyncOpenAI
    client = client_class(
        base_url=base_url,
        api_key="none",
        max_retries=0,
        timeout=TIMEOUT,
        http_client=openai.DefaultAioHttpClient(limits=pool_limits(concurrency), timeout=TIMEOUT),
    )
    gate = asyncio.Semaphore(concurrency)

    async def call() -> None:
        async with gate:
            if isinstance(client, TemplatedAsyncOpenAI) and variant == "direct":
                content = await client.post_json("/chat/completions", BODY)
            elif isinstance(client, TemplatedAsyncOpenAI):
                content = (await client._sdk_post("/chat/completions", BODY)).content
            else:
                response = await client.post(
                    "/chat/completions", body=BODY, cast_to=httpx2.Response
                )
                content = response.content
            json.loads(content)

    try:
        await call()
        return await timed(asyncio.gather(*(call() for _ in range(calls))))
    finally:
        await client.close()


async def orchestrator_runs(
    base_url: str, calls: int, concurrency: int, runs: int, infra: Infra, profile: str | None
) -> list[dict[str, float]]:
    kafka = await isolated_kafka(infra)
    database_url = await create_database(infra, "bench_run_orchestrator")
    figures: list[dict[str, float]] = []
    try:
        await migrate("run-orchestrator", database_url)
        providers = {"bench": {"base_url": base_url, "max_concurrency": concurrency}}
        env = {"PROVIDERS": json.dumps(providers), "LOG_LEVEL": "WARNING"}
        version = PromptVersionCreated(
            prompt_id=uuid.uuid4(),
            version_id=uuid.uuid4(),
            number=1,
            template=TextTemplate(text="Hello {{ name }}"),
            variables=[VariableSpec(name="name")],
        )
        await produce(kafka, [(version, envelope_for(version, 2))])
        with tempfile.TemporaryDirectory() as run_dir:
            async with (
                service_process(
                    "run-orchestrator", database_url, kafka, Path(run_dir), env=env
                ) as url,
                httpx.AsyncClient(base_url=url, timeout=120, headers=service_headers()) as client,
            ):
                pid = int((Path(run_dir) / "run-orchestrator.pid").read_text())
                with sampled({"run-orchestrator": pid}, profile):
                    for _ in range(runs):
                        cpu = process_cpu_seconds(pid)
                        figure = await one_run(client, database_url, version, calls)
                        figure["orchestrator_cpu_s"] = round(process_cpu_seconds(pid) - cpu, 2)
                        figures.append(figure)
    finally:
        await drop_database(infra, database_url)
        await delete_topics(kafka)
    return figures


async def one_run(
    client: httpx.AsyncClient, database_url: str, version: PromptVersionCreated, calls: int
) -> dict[str, float]:
    body = {
        "prompt_version_id": str(version.version_id),
        "provider": "bench",
        "model_name": "bench",
        "cases": [{"name": f"n{i}"} for i in range(calls)],
    }
    started = time.perf_counter()
    response = await client.post("/runs", json=body)
    response.raise_for_status()
    run_id = response.json()["run_id"]
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        while not await connection.fetchval(
            "SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = $2",
            run_id,
            "promptworks.run.completed.v1",
        ):
            await asyncio.sleep(0.02)
        completed = time.perf_counter() - started
        row = await connection.fetchrow(
            """
            SELECT
              extract(epoch FROM max(recorded_at) FILTER (WHERE event_type LIKE '%result_recorded%')
                - min(recorded_at) FILTER (WHERE event_type LIKE '%started%')) AS recorded,
              count(*) FILTER (WHERE event_type LIKE '%result_recorded%') AS results,
              count(*) FILTER (WHERE data->>'error' IS NOT NULL
                               AND event_type LIKE '%result_recorded%') AS failed
            FROM events WHERE stream_id = $1
            """,
            run_id,
        )
    finally:
        await connection.close()
    assert row is not None and row["results"] == calls and row["failed"] == 0, dict(row or {})
    return {
        "start_to_last_result_s": round(float(row["recorded"]), 3),
        "post_to_completed_s": round(completed, 3),
    }


def figures(timings: list[Timing]) -> dict[str, list[float]]:
    return {
        "wall_s": [round(t.wall_s, 3) for t in timings],
        "cpu_s": [round(t.cpu_s, 3) for t in timings],
    }


SERVERS = {"lean": "bench.openai_server", "fake": "tests.support.fake_openai"}


async def main(
    calls: int,
    concurrency: int,
    runs: int,
    server: str,
    compare: bool,
    infra: Infra,
    durable: bool,
    profile: str | None,
) -> dict[str, Any]:
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    async with fake_server(LATENCY, SERVERS[server]) as base_url:
        baseline = [await aiohttp_baseline(base_url, calls, concurrency) for _ in range(runs)]
        provider = [await provider_stack(base_url, calls, concurrency) for _ in range(runs)]
        compared: dict[str, list[Timing]] = {
            f"sdk_create_{transport}": [
                await sdk_create(base_url, calls, concurrency, transport) for _ in range(runs)
            ]
            for transport in (("httpx", "aiohttp") if compare else ())
        }
        for variant in ("sdk", "templated", "direct") if compare else ():
            compared[f"{variant}_post"] = [
                await sdk_post(base_url, calls, concurrency, variant) for _ in range(runs)
            ]
        orchestrated = await orchestrator_runs(base_url, calls, concurrency, runs, infra, profile)
    return {
        "nproc": os.cpu_count(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "durable": durable,
        "server": SERVERS[server],
        "calls": calls,
        "concurrency": concurrency,
        "server_latency_s": LATENCY,
        "physical_limit_s": round(-(-calls // concurrency) * LATENCY, 3),
        "aiohttp_baseline": figures(baseline),
        "provider": figures(provider),
        **{name: figures(timings) for name, timings in compared.items()},
        "run_s": orchestrated,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--server", choices=sorted(SERVERS), default="lean")
    parser.add_argument(
        "--compare", action="store_true", help="also the SDK's typed create on httpx and aiohttp"
    )
    parser.add_argument(
        "--durable",
        action="store_true",
        help="a private PostgreSQL + Kafka with fsync on (tests/support/private_infra.py)",
    )
    parser.add_argument(
        "--profile", metavar="DIR", help="py-spy the orchestrator during the runs into DIR"
    )
    args = parser.parse_args()
    with chosen_infra(args.durable) as (infra, _):
        report = asyncio.run(
            main(
                args.calls,
                args.concurrency,
                args.runs,
                args.server,
                args.compare,
                infra,
                args.durable,
                args.profile,
            )
        )
    print(json.dumps(report, indent=2))
