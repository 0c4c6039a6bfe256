"""Benchmark: one run of N cases (x R repetitions) on the mock model with three assertions,
end to end.

Timed from the POST of the run until every result and every metric is readable in query-api.
Prints calls per second, the peak memory (RSS) and the CPU time of each service process (and
per 1,000 calls), ``nproc`` and the load average.

    uv run python -m bench.e2e_run [--cases 10000] [--repetitions 1] [--durable] [--profile DIR]
        [--warmup CASES]

100,000 calls (the memory target): ``--cases 10000 --repetitions 10``. ``--warmup CASES``
first runs CASES other cases to the end, untimed: the figure of a stack in its steady state
rather than of the first run after it started (the broker's JIT, the services' first
statements).

Without ``--durable`` it uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL_BASE when set, else starts
the test stack (``fsync`` off). With ``--durable`` it starts a private PostgreSQL + Kafka on free
ports with durable settings (``fsync``, ``synchronous_commit``, ``full_page_writes`` on;
``tests/support/private_infra.py``), deleted at the end, and also reports the CPU time of
PostgreSQL (per service database: its backends) and of Kafka, and the server's WAL flushes
while timed (``wal_syncs``: count, mean ms, per 1,000 calls; ``track_wal_io_timing`` on), and
the run's ``timeline``: when each stage committed its first and last rows (``bench.timeline``).
Each consumer's batches while timed: ``consumer_batches``.
Each service runs as its own process on fresh databases and its own topic prefix.
``--profile DIR`` samples each service with py-spy while timed (``uvx --from py-spy py-spy
record -f raw``: DIR/<service>.txt, folded stacks; it costs CPU, so figures taken with it are
not the headline).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from bench import thread_cpu, timeline
from bench.machine import python_gauge_seconds
from devstack.services import Stack, default_specs
from promptworks_eventkit.db import asyncpg_dsn
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
from tests.support.private_infra import running_private_infra

ASSERTIONS = [
    {"type": "contains", "value": "{{ city }}", "name": "mentions_city"},
    {"type": "regex", "pattern": "^Describe", "name": "starts_right"},
    {"type": "max_latency_ms", "threshold": 1000, "name": "fast_enough"},
]


class PeakMemory:
    """Samples each service's RSS and CPU time every 100 ms on a thread of its own; with
    ``infra_pids`` (a private PostgreSQL's postmaster and the Kafka broker) their CPU too:
    PostgreSQL's by the database each backend serves (its process title), the rest as
    ``postgres (other)`` (WAL writer, checkpointer, ...)."""

    def __init__(self, pids: dict[str, int], infra_pids: dict[str, int] | None = None) -> None:
        self._processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._infra = {name: psutil.Process(pid) for name, pid in (infra_pids or {}).items()}
        self.peak_mib: dict[str, float] = dict.fromkeys(pids, 0.0)
        self.cpu_seconds: dict[str, float] = dict.fromkeys(pids, 0.0)
        self.infra_cpu_seconds: dict[str, float] = {}
        self._cpu_before: dict[str, float] = {}
        # pid -> (group, CPU s when first seen, CPU s when last seen); a backend that exits
        # between two samples loses at most 100 ms of its CPU.
        self._infra_seen: dict[int, tuple[str, float, float]] = {}
        self._broker_before: dict[str, float] = {}
        self.broker_threads: dict[str, float] = {}
        """The broker's CPU seconds by thread group while timed (``bench.thread_cpu``)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            for name, process in self._processes.items():
                rss = process.memory_info().rss / 2**20
                self.peak_mib[name] = max(self.peak_mib[name], rss)
            self._sample_infra(first=False)
            self._stop.wait(0.1)

    def _sample_infra(self, *, first: bool) -> None:
        for name, root in self._infra.items():
            with contextlib.suppress(psutil.Error):
                for process in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        cpu = sum(process.cpu_times()[:2])
                        known = self._infra_seen.get(process.pid)
                        if known is None:
                            group = _infra_group(name, process, root)
                            self._infra_seen[process.pid] = (group, cpu if first else 0.0, cpu)
                        else:
                            self._infra_seen[process.pid] = (known[0], known[1], cpu)

    def _cpu(self) -> dict[str, float]:
        return {name: sum(process.cpu_times()[:2]) for name, process in self._processes.items()}

    def __enter__(self) -> PeakMemory:
        if "kafka" in self._infra:
            self._broker_before = thread_cpu.by_group(self._infra["kafka"].pid)
        self._cpu_before = self._cpu()
        self._sample_infra(first=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        after = self._cpu()
        self._sample_infra(first=False)
        self.cpu_seconds = {name: after[name] - self._cpu_before[name] for name in after}
        for group, first, last in self._infra_seen.values():
            self.infra_cpu_seconds[group] = self.infra_cpu_seconds.get(group, 0.0) + last - first
        if "kafka" in self._infra:
            after_broker = thread_cpu.by_group(self._infra["kafka"].pid)
            self.broker_threads = thread_cpu.spent(self._broker_before, after_broker)


def _infra_group(name: str, process: psutil.Process, root: psutil.Process) -> str:
    if name != "postgres" or process.pid == root.pid:
        return name
    # A backend's title: "postgres: <user> <database> <client> <state>".
    words = " ".join(process.cmdline()).split()
    if len(words) >= 3 and words[0] == "postgres:" and words[1] == "promptworks":
        return f"postgres {words[2].rsplit('_', 1)[0]}"
    return "postgres (other)"


@contextlib.contextmanager
def sampled(pids: dict[str, int], directory: str | None) -> Iterator[None]:
    """py-spy attached to each service while the block runs (when ``directory`` is given)."""
    if directory is None:
        yield
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    record = ["uvx", "--from", "py-spy", "py-spy", "record", "--nonblocking", "-r", "250"]
    spies = [
        subprocess.Popen(
            [*record, "-f", "raw", "-o", f"{directory}/{name}.txt", "-p", str(pid)],
            stdout=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
        if name != "prompt-service"
    ]
    time.sleep(2.0)  # py-spy attaches
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            spy.wait(timeout=60)


WAL_SYNCS = "SELECT wal_sync, wal_sync_time FROM pg_stat_wal"


async def wal_syncs(infra: Infra, durable: bool) -> tuple[int, float] | None:
    """The server's WAL flushes so far and their total ms (durable: a private server)."""
    if not durable:
        return None
    connection = await asyncpg.connect(asyncpg_dsn(infra.database_url("postgres")))
    try:
        await connection.execute("ALTER SYSTEM SET track_wal_io_timing = on")
        await connection.execute("SELECT pg_reload_conf()")
        row = await connection.fetchrow(WAL_SYNCS)
        return int(row["wal_sync"]), float(row["wal_sync_time"])
    finally:
        await connection.close()


def syncs_between(before: tuple[int, float] | None, after: tuple[int, float] | None) -> Any:
    """The WAL flushes between two ``wal_syncs`` readings: count and mean ms (or None)."""
    if before is None or after is None:
        return None
    count = after[0] - before[0]
    return {"count": count, "mean_ms": round((after[1] - before[1]) / max(1, count), 2)}


STATEMENTS = """
    SELECT d.datname AS database, s.query, s.calls, s.rows, s.total_exec_time AS exec_ms,
           s.wal_bytes, s.shared_blks_dirtied AS dirtied
    FROM pg_stat_statements AS s JOIN pg_database AS d ON d.oid = s.dbid
    WHERE d.datname <> 'postgres'
    ORDER BY s.total_exec_time DESC
"""


async def with_statement_stats(infra: Infra) -> None:
    """``pg_stat_statements`` in the private server (preloaded by its start's settings)."""
    connection = await asyncpg.connect(asyncpg_dsn(infra.database_url("postgres")))
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    finally:
        await connection.close()


def add_statements_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--statements",
        type=int,
        default=0,
        metavar="N",
        help="with --durable: the N statements PostgreSQL spent most time in (pg_stat_statements)",
    )


async def statement_stats(infra: Infra, top: int, calls: int) -> list[dict[str, Any]]:
    """The ``top`` statements by execution time since the last reset (then reset), per 1,000
    calls of the run: which service's database, calls, rows, ms, WAL bytes."""
    connection = await asyncpg.connect(asyncpg_dsn(infra.database_url("postgres")))
    try:
        rows = await connection.fetch(STATEMENTS)
        await connection.execute("SELECT pg_stat_statements_reset()")
    finally:
        await connection.close()
    per = 1000 / calls
    return [
        {
            "database": row["database"].rsplit("_", 1)[0],
            "query": " ".join(row["query"].split())[:160],
            "calls_per_1000": round(row["calls"] * per, 1),
            "rows_per_1000": round(row["rows"] * per, 1),
            "exec_ms_per_1000": round(row["exec_ms"] * per, 1),
            "wal_kb_per_1000": round(float(row["wal_bytes"]) * per / 1024, 1),
            "blocks_dirtied_per_1000": round(row["dirtied"] * per, 1),
        }
        for row in rows[:top]
    ]


@contextlib.contextmanager
def chosen_infra(durable: bool, statements: bool = False) -> Iterator[tuple[Infra, dict[str, int]]]:
    """The infrastructure and, when private, the pids of its PostgreSQL and Kafka
    (``statements``: with ``pg_stat_statements`` preloaded)."""
    if not durable:
        yield start_infra(), {}
        return
    # Commit timestamps date each row's transaction for the timeline (bench.timeline).
    settings = {"track_commit_timestamp": "on"}
    if statements:
        settings["shared_preload_libraries"] = "'pg_stat_statements'"
    with (
        tempfile.TemporaryDirectory(prefix="pw-bench-durable-") as state,
        running_private_infra(Path(state), pg_settings=settings) as private,
    ):
        pids = {
            "postgres": int((Path(state) / "pg/data/postmaster.pid").read_text().split()[0]),
            "kafka": int((Path(state) / "kafka/kafka.pid").read_text().split()[0]),
        }
        yield Infra(private.database_url_base, private.kafka_bootstrap_servers), pids


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


async def wait_until_readable(
    client: httpx.AsyncClient, run_id: str, calls: int, started: float
) -> tuple[float | None, float | None]:
    """Waits until every result and the summary are readable; returns the seconds after
    ``started`` when query-api first showed a result recorded, and every result (where the
    stages meet)."""
    first_recorded: float | None = None
    all_recorded: float | None = None
    while True:
        run = (await client.get(f"/api/v1/test_prompt/{run_id}")).json()
        if run["recorded"] > 0 and first_recorded is None:
            first_recorded = time.perf_counter() - started
        if run["recorded"] >= calls and all_recorded is None:
            all_recorded = time.perf_counter() - started
        if run["recorded"] >= calls and run.get("evaluation_summary"):
            return first_recorded, all_recorded
        await asyncio.sleep(0.05)


async def consumer_metrics(stack: Stack) -> dict[str, dict[str, float]]:
    """Every service's consumers' batch counters now (``bench.timeline.consumer_batches``)."""
    found: dict[str, dict[str, float]] = {}
    async with httpx.AsyncClient(timeout=10) as client:
        for spec in stack.specs:
            exposition = (await client.get(f"http://127.0.0.1:{spec.port}/metrics")).text
            found |= timeline.consumer_batches(exposition)
    return found


async def stages_timeline(
    stack: Stack, urls: list[str], started_epoch: float, polled: dict[str, float | None]
) -> dict[str, str]:
    """Each stage's first and last commit (or publish) after the POST (``bench.timeline``),
    with what the bench's polling of query-api saw (``polled``)."""
    commits: dict[str, list[tuple[float, int]]] = {}
    for spec, url in zip(stack.specs, urls, strict=True):
        if spec.name in timeline.STAGES:
            commits |= await timeline.committed(asyncpg_dsn(url), timeline.STAGES[spec.name])
    kafka = stack_kafka(stack)
    for topic, types in timeline.PUBLISHED.items():
        commits |= await timeline.published(kafka.bootstrap_servers, kafka.topic(topic), types)
    stages = {  # a warm-up run's commits came before the start
        name: timeline.stage([c for c in times if c[0] >= started_epoch], started_epoch)
        for name, times in commits.items()
    }
    seen = {
        name: timeline.Stage(round(at, 3), round(at, 3), 0, 0) if at is not None else None
        for name, at in polled.items()
    }
    return timeline.ordered({**stages, **seen})


async def warm_up(client: httpx.AsyncClient, body: dict[str, Any], cases: int) -> None:
    """Runs of ``cases`` other cases in all, like the measured one, each until its summary is
    readable: the stack's steady state (connections open, statements prepared, the broker's
    code compiled by its JIT) rather than the first run after start."""
    size = len(body["cases"])  # a run takes at most MAX_CASES: several runs if need be
    for start in range(0, cases, size):
        warm = {
            **body,
            "cases": [{"city": f"warm-{i}"} for i in range(start, min(cases, start + size))],
        }
        response = await client.post("/api/v1/test_prompt", json=warm)
        response.raise_for_status()
        calls = len(warm["cases"]) * int(body["repetitions"])
        await wait_until_readable(client, response.json()["id"], calls, time.perf_counter())


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


async def main(
    cases: int,
    repetitions: int,
    infra: Infra,
    infra_pids: dict[str, int],
    profile: str | None = None,
    statements: int = 0,
    warmup: int = 0,
) -> dict[str, Any]:
    calls = cases * repetitions
    load_at_start = [round(x, 2) for x in os.getloadavg()]
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
                if warmup:
                    await warm_up(client, body, warmup)
                syncs_before = await wal_syncs(infra, bool(infra_pids))
                if statements:
                    await with_statement_stats(infra)
                    await statement_stats(infra, 0, 1)  # a reset: the setup's are not counted
                pids = {s.name: stack.pid(s.name) or 0 for s in stack.specs}
                batches_before = await consumer_metrics(stack)
                with sampled(pids, profile), PeakMemory(pids, infra_pids) as memory:
                    started, started_epoch = time.perf_counter(), time.time()
                    response = await client.post("/api/v1/test_prompt", json=body)
                    response.raise_for_status()
                    run_id = response.json()["id"]
                    first_recorded, all_recorded = await wait_until_readable(
                        client, run_id, calls, started
                    )
                    elapsed = time.perf_counter() - started
                syncs = syncs_between(syncs_before, await wal_syncs(infra, bool(infra_pids)))
                top = await statement_stats(infra, statements, calls) if statements else None
                readable = await count_readable(client, run_id, metrics_each=len(ASSERTIONS))
                assert readable == calls, f"{readable} of {calls} results readable with metrics"
                batches = timeline.batches_between(batches_before, await consumer_metrics(stack))
                polled = {
                    "first result readable (query-api, polled)": first_recorded,
                    "every result readable (query-api, polled)": all_recorded,
                    "summary readable (query-api, polled)": elapsed,
                }
                stages = None
                if infra_pids:  # commit timestamps: the private server's setting
                    stages = await stages_timeline(stack, urls, started_epoch, polled)
        finally:
            stack.stop_all()
            for url in urls:
                await drop_database(infra, url)
            await delete_topics(stack_kafka(stack))
    cpu = {**memory.cpu_seconds, **dict(sorted(memory.infra_cpu_seconds.items()))}
    return {
        "nproc": os.cpu_count(),
        "python_gauge_seconds": python_gauge_seconds(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "durable": bool(infra_pids),
        "warmup_cases": warmup,
        "cases": cases,
        "repetitions": repetitions,
        "calls": calls,
        "seconds": round(elapsed, 2),
        "calls_per_second": round(calls / elapsed),
        "all_recorded_readable_s": all_recorded and round(all_recorded, 2),
        "peak_rss_mib": {k: round(v) for k, v in memory.peak_mib.items()},
        # CPU (user + system) each service used while timed: steadier than the wall clock when
        # other work shares the cores.
        "cpu_seconds": {k: round(v, 2) for k, v in cpu.items()},
        "cpu_seconds_per_1000_calls": {k: round(v * 1000 / calls, 3) for k, v in cpu.items()},
        # Durable: the broker's CPU by thread group (requests, sockets, the JIT, the collector).
        **({"kafka_threads_cpu_seconds": memory.broker_threads} if memory.broker_threads else {}),
        "services_cpu_seconds": round(sum(memory.cpu_seconds.values()), 2),
        # Durable: the server's WAL flushes while timed (every service's commits that waited).
        "wal_syncs": syncs and {**syncs, "per_1000_calls": round(syncs["count"] * 1000 / calls)},
        **({"statements": top} if top is not None else {}),
        # Durable: when each stage ran (bench.timeline), by its first commit or publish.
        **({"timeline": stages} if stages is not None else {}),
        # Each consumer's batches while timed and the time they took (its busy seconds).
        "consumer_batches": batches,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--repetitions", type=int, default=1)
    parser.add_argument(
        "--durable", action="store_true", help="a private PostgreSQL with fsync on (see above)"
    )
    parser.add_argument("--profile", metavar="DIR", help="py-spy each service into DIR")
    add_statements_argument(parser)
    parser.add_argument(
        "--warmup",
        type=int,
        default=0,
        metavar="CASES",
        help="first a run of CASES other cases, not timed (the steady state, not a cold start)",
    )
    arguments = parser.parse_args()
    if arguments.statements and not arguments.durable:
        parser.error("--statements needs --durable (a private server it may restart)")
    with chosen_infra(arguments.durable, bool(arguments.statements)) as (infra, infra_pids):
        report = asyncio.run(
            main(
                arguments.cases,
                arguments.repetitions,
                infra,
                infra_pids,
                arguments.profile,
                arguments.statements,
                arguments.warmup,
            )
        )
    print(json.dumps(report, indent=2))
