"""Benchmark: one run of N cases (x R repetitions) on the mock model with three assertions,
end to end.

Timed from the POST of the run until every result and every metric is readable in query-api.
Prints calls per second, the peak memory (RSS) and the CPU time of each service process.

    uv run python -m bench.e2e_run [--cases 10000] [--repetitions 1]

100,000 calls (the memory target): ``--cases 10000 --repetitions 10``.

Uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL_BASE when set, else starts the test stack. Each
service runs as its own process on fresh databases and its own topic prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from devstack.services import Stack, default_specs
from promptworks_eventkit.settings import KafkaSettings
from tests.support.fake_openai import free_port
from tests.support.infra import (
    Infra,
    create_database,
    delete_topics,
    drop_database,
    isolated_kafka,
    start_infra,
)

ASSERTIONS = [
    {"type": "contains", "value": "{{ city }}", "name": "mentions_city"},
    {"type": "regex", "pattern": "^Describe", "name": "starts_right"},
    {"type": "max_latency_ms", "threshold": 1000, "name": "fast_enough"},
]


class PeakMemory:
    """Samples each service's RSS every 100 ms on a thread of its own."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.peak_mib: dict[str, float] = dict.fromkeys(pids, 0.0)
        self.cpu_seconds: dict[str, float] = dict.fromkeys(pids, 0.0)
        self._cpu_before: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            for name, process in self._processes.items():
                rss = process.memory_info().rss / 2**20
                self.peak_mib[name] = max(self.peak_mib[name], rss)
            self._stop.wait(0.1)

    def _cpu(self) -> dict[str, float]:
        return {name: sum(process.cpu_times()[:2]) for name, process in self._processes.items()}

    def __enter__(self) -> PeakMemory:
        self._cpu_before = self._cpu()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        after = self._cpu()
        self.cpu_seconds = {name: after[name] - self._cpu_before[name] for name in after}


async def start_stack(
    infra: Infra, run_dir: Path, extra_env: dict[str, dict[str, str]] | None = None
) -> tuple[Stack, list[str]]:
    kafka = await isolated_kafka(infra)  # deleted after the run with the stack's databases
    specs = [type(s)(s.name, s.module, s.database, free_port()) for s in default_specs()]
    urls = [await create_database(infra, s.database) for s in specs]
    stack = Stack(
        database_url_base=infra.database_url_base,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        run_dir=run_dir,
        specs=specs,
        topic_prefix=kafka.topic_prefix,
        databases={s.name: u.rsplit("/", 1)[1] for s, u in zip(specs, urls, strict=True)},
        extra_env={"query-api": {"LOG_LEVEL": "WARNING"}, **(extra_env or {})},
    )
    await asyncio.to_thread(stack.migrate)
    stack.start_all()
    await asyncio.to_thread(stack.wait_ready)
    return stack, urls


def stack_kafka(stack: Stack) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=stack.kafka_bootstrap_servers, topic_prefix=stack.topic_prefix
    )


async def wait_until_readable(client: httpx.AsyncClient, run_id: str, calls: int) -> None:
    while True:
        run = (await client.get(f"/api/v1/test_prompt/{run_id}")).json()
        if run["recorded"] >= calls and run.get("evaluation_summary"):
            return
        await asyncio.sleep(0.05)


async def count_readable(client: httpx.AsyncClient, run_id: str, metrics_each: int) -> int:
    """Reads every result page and counts results carrying all their assertion metrics."""
    complete, offset = 0, 0
    while True:
        page: list[dict[str, Any]] = (
            await client.get(
                f"/api/v1/test_prompt/{run_id}/results", params={"limit": 5000, "offset": offset}
            )
        ).json()
        if not page:
            return complete
        names = {m["name"] for r in page for m in r["metrics"]}
        assert {a["name"] for a in ASSERTIONS} <= names
        complete += sum(1 for r in page if len(r["metrics"]) >= metrics_each)
        offset += len(page)


async def main(cases: int, repetitions: int) -> dict[str, Any]:
    calls = cases * repetitions
    infra = start_infra()
    with tempfile.TemporaryDirectory() as run_dir:
        stack, urls = await start_stack(infra, Path(run_dir))
        try:
            async with stack.api_client(timeout=120) as client:
                prompt = (
                    await client.post(
                        "/api/v1/prompts",
                        json={
                            "name": "bench city",
                            "content": "Describe {{ city }} in one line",
                            "variables": [{"name": "city"}],
                        },
                    )
                ).json()
                body = {
                    "prompt_version_id": prompt["current_version"]["id"],
                    "provider": "mock",
                    "model_name": "echo",
                    "cases": [{"city": f"city-{i}"} for i in range(cases)],
                    "repetitions": repetitions,
                    "assertions": ASSERTIONS,
                }
                pids = {s.name: stack.pid(s.name) or 0 for s in stack.specs}
                with PeakMemory(pids) as memory:
                    started = time.perf_counter()
                    response = await client.post("/api/v1/test_prompt", json=body)
                    response.raise_for_status()
                    run_id = response.json()["id"]
                    await wait_until_readable(client, run_id, calls)
                    elapsed = time.perf_counter() - started
                readable = await count_readable(client, run_id, metrics_each=len(ASSERTIONS))
                assert readable == calls, f"{readable} of {calls} results readable with metrics"
        finally:
            stack.stop_all()
            for url in urls:
                await drop_database(infra, url)
            await delete_topics(stack_kafka(stack))
    return {
        "cases": cases,
        "repetitions": repetitions,
        "calls": calls,
        "seconds": round(elapsed, 2),
        "calls_per_second": round(calls / elapsed),
        "peak_rss_mib": {k: round(v) for k, v in memory.peak_mib.items()},
        # CPU (user + system) each service used while timed: steadier than the wall clock when
        # other work shares the cores.
        "cpu_seconds": {k: round(v, 2) for k, v in memory.cpu_seconds.items()},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--repetitions", type=int, default=1)
    arguments = parser.parse_args()
    report = asyncio.run(main(arguments.cases, arguments.repetitions))
    print(json.dumps(report, indent=2))
