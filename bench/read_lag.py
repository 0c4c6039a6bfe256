"""Benchmark: read-model lag at a steady event rate (issue 12: p99 <= 100 ms from commit in the
command service to readable in query-api, at a steady 1,000 events/s).

The four services as processes on fresh databases and topics (``bench.e2e_run``'s stack). The
steady source is a run on the ``mock`` model that answers after ``--latency-ms`` with
``--concurrency`` calls in flight: run-orchestrator commits a ``ResultRecorded`` at a steady
rate (concurrency / latency), and the evaluator a ``ResultEvaluated`` for each, so query-api
projects about twice the result rate. ``--rate`` picks the concurrency for a total of that many
events a second into query-api.

Lag is observed, not inferred: a watcher polls, every 2 ms on one clock, run-orchestrator's
event store (the run's stream: when each version became visible, i.e. committed) and query-api's
``consumer_stream_positions`` (how far query-api has applied that stream, in the same
transaction as the read model, so readable). An event's lag is the time from the first poll that
saw it committed to the first that saw it applied; the resolution is one poll (~2-5 ms). The
first ``--warmup`` seconds of the run are not counted.

    uv run python -m bench.read_lag [--rate 1000] [--seconds 30] [--latency-ms 50] [--durable]

Prints the achieved rates, the lag's p50/p95/p99/max, each service's CPU seconds over the run,
``nproc`` and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import itertools
import json
import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from bench.e2e_run import PeakMemory, stack_kafka, start_stack, syncs_between, wal_syncs
from bench.machine import python_gauge_seconds
from bench.prompt_list import percentiles
from bench.results_read import chosen_infra
from devstack.services import Stack
from promptworks_contracts.topics import RUN_EVENTS
from promptworks_eventkit.db import asyncpg_dsn
from tests.support.infra import Infra, delete_topics, drop_database

POLL_SECONDS = 0.002
RECORDED = """
    SELECT version, extract(epoch FROM recorded_at)::float8 FROM events WHERE stream_id = $1
"""
"""Where part of the lag goes: the outbox relay's delay, from each event's append (its
``recorded_at``, the service's clock as it appends) to the Kafka record's timestamp (the relay's
send); the relay deletes each row once published (ADR 0028), so it is read from the tap."""
APPLIED = """
    SELECT (SELECT max(version) FROM consumer_stream_positions WHERE stream_id = $1),
           (SELECT extract(epoch FROM max(updated_at))::float8 FROM consumer_offsets),
           (SELECT sum(next_offset)::bigint FROM consumer_offsets)
"""
"""How far query-api applied the run's stream, when its last batch's transaction began, and
how many records its batches have covered (all in one snapshot)."""
STAGES = ("relay", "broker", "behind_batch", "fetch", "transaction")
"""``behind_batch`` + ``fetch`` is the former ``consumer_wait`` (tapped -> its batch began)."""
PROJECTION_HISTOGRAMS = (
    "promptworks_consumer_applied_age_seconds",
    "promptworks_consumer_batch_duration_seconds",
)


class Tap:
    """Reads the run topic as it is written (outside any group): when each of the run's events
    was first readable from the broker, and the record's own timestamp (the producer's)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._bootstrap, self._topic = bootstrap, topic
        self.timestamps: dict[tuple[str, int], float] = {}
        """(stream id, version) -> the record's timestamp."""
        self.tapped_at: dict[tuple[str, int], float] = {}
        """(stream id, version) -> when the tap first read it."""
        self.consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, group_id=None, fetch_max_wait_ms=5
        )
        await consumer.start()
        cluster = await consumer._client.fetch_all_metadata()  # the topics created by the stack
        partitions = cluster.partitions_for_topic(self._topic) or set()
        assert partitions, f"no topic {self._topic}"
        consumer.assign([TopicPartition(self._topic, p) for p in partitions])
        await consumer.seek_to_end()
        self.consumer = consumer

    async def run(self) -> None:
        assert self.consumer is not None
        while True:
            batch = await self.consumer.getmany(timeout_ms=50)
            seen = time.time()
            for records in batch.values():
                for record in records:
                    event = (record.key.decode(), int(dict(record.headers)["ce_streamversion"]))
                    self.timestamps.setdefault(event, record.timestamp / 1000)
                    self.tapped_at.setdefault(event, seen)

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()


class LagWatcher:
    """When each event of one stream was first seen committed in the command service's event
    store, and when first seen applied by query-api."""

    def __init__(self, command_db: str, query_db: str, stream_id: str, warmup: float) -> None:
        self._dsns = asyncpg_dsn(command_db), asyncpg_dsn(query_db)
        self.stream = stream_id
        self._warmup = warmup
        self.committed_at: dict[int, float] = {}
        self.lags_ms: list[float] = []
        self.applied_version = 0
        self.done = False
        self.recorded_at: dict[int, float] = {}
        """Version -> when the event was appended (``events.recorded_at``)."""
        self.counted: list[int] = []
        """The versions whose lag is counted (after the warm-up)."""
        self.applied_at: dict[int, float] = {}
        self.batch_started_at: dict[int, float] = {}
        self.batches: list[tuple[int, float]] = []
        """Per query-api batch seen committed: its records and its transaction's seconds."""
        self.batch_spans: list[tuple[float, float]] = []
        """Per query-api batch seen committed: when it began, when first seen committed."""

    async def run(self) -> None:
        command, query = [await asyncpg.connect(dsn) for dsn in self._dsns]
        started, last_committed = time.time(), 0
        last_batch, last_records = None, None
        try:
            while not self.done or self.applied_version < last_committed:
                for row in await command.fetch(
                    "SELECT version FROM events WHERE stream_id = $1 AND version > $2",
                    self.stream,
                    last_committed,
                ):
                    self.committed_at.setdefault(row["version"], time.time())
                    last_committed = max(last_committed, row["version"])
                applied, batch_start, records = await query.fetchrow(APPLIED, self.stream)
                seen = time.time()
                if batch_start is not None and batch_start != last_batch:
                    self.batch_spans.append((float(batch_start), seen))
                    if last_records is not None:
                        self.batches.append((int(records - last_records), seen - batch_start))
                    last_batch, last_records = batch_start, records
                for version in range(self.applied_version + 1, (applied or 0) + 1):
                    committed = self.committed_at.get(version, seen)
                    self.applied_at[version] = seen
                    if batch_start is not None:
                        self.batch_started_at[version] = float(batch_start)
                    if committed - started >= self._warmup:
                        self.lags_ms.append((seen - committed) * 1000)
                        self.counted.append(version)
                self.applied_version = max(self.applied_version, applied or 0)
                await asyncio.sleep(POLL_SECONDS)
            self.recorded_at = dict(await command.fetch(RECORDED, self.stream))
        finally:
            await command.close()
            await query.close()


async def measure(
    stack: Stack, infra: Infra, calls: int, warmup: float
) -> tuple[LagWatcher, Tap, float, dict[str, float]]:
    repetitions = math.ceil(calls / 10_000)  # a run takes at most 10,000 cases
    async with stack.api_client("/api/v1", timeout=120) as api:
        prompt = await api.post(
            "/prompts", json={"name": "lag", "content": "Say {{ x }}", "variables": [{"name": "x"}]}
        )
        prompt.raise_for_status()
        body = {
            "prompt_version_id": prompt.json()["current_version"]["id"],
            "provider": "mock",
            "model_name": "echo",
            "cases": [{"x": str(i)} for i in range(math.ceil(calls / repetitions))],
            "repetitions": repetitions,
            "assertions": [{"type": "contains", "value": "Say", "name": "says"}],
        }
        pids = {s.name: stack.pid(s.name) or 0 for s in stack.specs}
        tap = Tap(stack.kafka_bootstrap_servers, stack_kafka(stack).topic(RUN_EVENTS))
        with PeakMemory(pids) as usage:
            await tap.start()
            run = await api.post("/test_prompt", json=body)
            assert run.status_code in (201, 202), run.text
            run_id = run.json()["id"]
            watcher = LagWatcher(
                f"{infra.database_url_base}/{stack.databases['run-orchestrator']}",
                f"{infra.database_url_base}/{stack.databases['query-api']}",
                run_id,
                warmup,
            )
            watching = asyncio.create_task(watcher.run())
            tapping = asyncio.create_task(tap.run())
            started = time.monotonic()
            try:
                while (await api.get(f"/test_prompt/{run_id}")).json()["status"] != "completed":
                    await asyncio.sleep(0.5)
                elapsed = time.monotonic() - started
                watcher.done = True
                await asyncio.wait_for(watching, timeout=120)
            finally:
                tapping.cancel()
                await tap.stop()
    return watcher, tap, elapsed, usage.cpu_seconds


def relay_delays(watcher: LagWatcher, tap: Tap) -> dict[str, float]:
    """p50 and p99 of every tapped event's append -> Kafka record timestamp (ms)."""
    delays = sorted(
        (sent - watcher.recorded_at[version]) * 1000
        for (stream, version), sent in tap.timestamps.items()
        if stream == watcher.stream and version in watcher.recorded_at
    )
    if not delays:
        return {}
    at = {"p50": 0.5, "p99": 0.99}
    return {k: round(delays[min(len(delays) - 1, int(q * len(delays)))], 1) for k, q in at.items()}


def stage_points(watcher: LagWatcher, tap: Tap) -> dict[int, list[float]]:
    """Per counted event, its lag's stages in ms (``STAGES``), where every clock saw it. The
    wait in query-api is split at the commit of the batch before the event's own (first seen
    committed): ``behind_batch`` is the part of it after the tap read the event (0 if that
    batch had committed already), ``fetch`` the rest (the next fetch, decoding, scheduling)."""
    starts = [start for start, _ in watcher.batch_spans]
    points: dict[int, list[float]] = {}
    for version in watcher.counted:
        times = (
            watcher.committed_at.get(version),
            tap.timestamps.get((watcher.stream, version)),
            tap.tapped_at.get((watcher.stream, version)),
            watcher.batch_started_at.get(version),
            watcher.applied_at.get(version),
        )
        if None in times:
            continue  # not seen by the tap (before it started) or no batch time read
        committed, sent, tapped, began, applied = (float(t or 0.0) for t in times)
        before = bisect.bisect_left(starts, began) - 1  # the batch that began before its own
        previous_seen = watcher.batch_spans[before][1] if before >= 0 else tapped
        behind = min(max(tapped, previous_seen), began)
        marks = (committed, sent, tapped, behind, began, applied)
        points[version] = [(end - start) * 1000 for start, end in itertools.pairwise(marks)]
    return points


def stages(points: dict[int, list[float]]) -> dict[str, dict[str, float]]:
    """Per stage, the percentiles of its share of each counted event's lag (ms)."""
    shares = list(zip(*points.values(), strict=True)) if points else []
    return {name: percentiles(list(values)) for name, values in zip(STAGES, shares, strict=True)}


def slowest(watcher: LagWatcher, points: dict[int, list[float]]) -> dict[str, float]:
    """The slowest 1 % of the counted events (lag at or over its p99): how many, their mean
    lag and the mean of each stage (ms): where the tail's time goes."""
    lags = dict(zip(watcher.counted, watcher.lags_ms, strict=True))
    cut = percentiles(watcher.lags_ms)["p99"]
    tail = [version for version in points if lags[version] >= cut]
    if not tail:
        return {}
    means = {
        name: round(statistics.fmean(points[v][i] for v in tail), 1)
        for i, name in enumerate(STAGES)
    }
    return {"events": len(tail), "lag": round(statistics.fmean(lags[v] for v in tail), 1), **means}


async def projection_histograms(query_api_url: str) -> dict[str, dict[str, float]]:
    """query-api's own view of its batches (``/metrics``, the whole run, warm-up included): per
    histogram, the share of batches at or under each bucket's bound, for the projection."""
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(f"{query_api_url}/metrics")
    answer.raise_for_status()
    shares: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(answer.text):
        if family.name not in PROJECTION_HISTOGRAMS:
            continue
        buckets = {
            sample.labels["le"]: sample.value
            for sample in family.samples
            if sample.name.endswith("_bucket")
            and sample.labels.get("consumer") == "query-api.projections"
        }
        total = buckets.get("+Inf", 0.0)
        shares[family.name] = {le: round(n / total, 4) for le, n in buckets.items() if total}
    return shares


async def main(
    infra: Infra, rate: float, seconds: float, warmup: float, latency_ms: float, durable: bool
) -> dict[str, Any]:
    result_rate = rate / 2  # each result is recorded, then evaluated: two events into query-api
    concurrency = max(1, math.ceil(result_rate * latency_ms / 1000))
    calls = int(result_rate * (seconds + warmup))
    calls -= calls % math.ceil(calls / 10_000)  # whole repetitions of at most 10,000 cases
    env = {"MOCK_LATENCY_MS": str(latency_ms), "MOCK_MAX_CONCURRENCY": str(concurrency)}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as run_dir:
        stack, urls = await start_stack(infra, Path(run_dir), {"run-orchestrator": env})
        try:
            syncs_before = await wal_syncs(infra, durable)
            watcher, tap, elapsed, cpu = await measure(stack, infra, calls, warmup)
            syncs_after = await wal_syncs(infra, durable)
            own_view = await projection_histograms(stack.url("query-api"))
        finally:
            stack.stop_all()
            for url in urls:
                await drop_database(infra, url)
            await delete_topics(stack_kafka(stack))
    points = stage_points(watcher, tap)
    return {
        "nproc": os.cpu_count(),
        "python_gauge_seconds": python_gauge_seconds(),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "mock": {"latency_ms": latency_ms, "concurrency": concurrency},
        "results": calls,
        "run_seconds": round(elapsed, 2),
        "achieved_results_per_second": round(calls / elapsed),
        "events_into_query_api_per_second": round(2 * calls / elapsed),
        "lag_ms": {**percentiles(watcher.lags_ms), "max": round(max(watcher.lags_ms), 2)},
        "relay_ms_all_events": relay_delays(watcher, tap),
        "stages_ms": stages(points),
        "slowest_1pct_ms": slowest(watcher, points),
        "batches": {
            "count": len(watcher.batches),
            "records": percentiles([float(n) for n, _ in watcher.batches]),
            "transaction_ms": percentiles([t * 1000 for _, t in watcher.batches]),
        },
        "wal_syncs": syncs_between(syncs_before, syncs_after),
        "query_api_metrics": own_view,
        "cpu_seconds": {k: round(v, 2) for k, v in cpu.items()},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=1000, help="events/s into query-api")
    parser.add_argument("--seconds", type=float, default=30, help="timed seconds of the run")
    parser.add_argument("--warmup", type=float, default=5, help="first seconds, not counted")
    parser.add_argument("--latency-ms", type=float, default=50, help="the mock model's latency")
    parser.add_argument("--durable", action="store_true", help="a private PostgreSQL, fsync on")
    args = parser.parse_args()
    with chosen_infra(args.durable) as chosen:
        report = asyncio.run(
            main(chosen, args.rate, args.seconds, args.warmup, args.latency_ms, args.durable)
        )
    print(json.dumps(report, indent=2))
