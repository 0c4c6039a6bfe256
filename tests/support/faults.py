"""Fault rounds on real processes, shared by the CI fault test and ``bench/fault_rounds.py``.

A round starts runs on the ``mock`` model (slowed down, with an assertion so the evaluator works
too), then, while the orchestrator is still making calls, kills each service with SIGKILL at a
random point (and starts it again), stops PostgreSQL as a crash would and starts it again, and
kills the Kafka broker and starts it again. ``verify`` then checks, once every run finished
unattended, that everything happened exactly once: in query-api (HTTP and tables), in the
command services' event stores, in the evaluator's tables, and on the Kafka topics (where
duplicate copies are allowed, counted, and must have been dropped by every consumer).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import os
import random
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from aiokafka import AIOKafkaConsumer

from devstack.services import Stack, _alive, default_specs
from promptworks_contracts.topics import ALL_EVENT_TOPICS, RUN_EVENTS, dlq_topic
from promptworks_eventkit.db import asyncpg_dsn
from tests.support.fake_openai import free_port
from tests.support.private_infra import PrivateInfra

SERVICES = ("prompt-service", "run-orchestrator", "evaluator", "query-api")
COMMAND_SERVICES = ("prompt-service", "run-orchestrator", "evaluator")
"""The services with an event store (the evaluator records its evaluations as events)."""
CONSUMING_SERVICES = ("run-orchestrator", "evaluator", "query-api")
RESULT_RECORDED = "promptworks.run.result_recorded.v1"
RESULT_EVALUATED = "promptworks.evaluation.result_evaluated.v1"
RUN_EVALUATED = "promptworks.evaluation.run_evaluated.v1"


@dataclass(frozen=True)
class Workload:
    runs: int = 1
    cases: int = 250
    repetitions: int = 4
    mock_latency_ms: int = 20
    mock_concurrency: int = 16

    @property
    def calls_per_run(self) -> int:
        return self.cases * self.repetitions


@dataclass
class FaultLog:
    """What was done, for the report."""

    rounds: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    exits: Counter[str] = field(default_factory=Counter)
    """Services that exited on their own (restarted by the supervisor)."""
    seconds: list[float] = field(default_factory=list)
    """Per round, from the first fault until the last was over."""
    fault_seconds: list[float] = field(default_factory=list)
    postgres_crashes: int = 0
    broker_crashes: int = 0
    mid_run: list[tuple[str, int, int]] = field(default_factory=list)
    """Per fault: what, and the orchestrator's calls recorded and to make when it struck."""

    def all_mid_run(self) -> bool:
        return all(recorded < total for _, recorded, total in self.mid_run)

    def describe(self) -> str:
        kills = ", ".join(f"{name} x{n}" for name, n in sorted(self.kills.items()))
        return (
            f"{self.rounds} round(s); SIGKILL: {kills}; PostgreSQL immediate stops: "
            f"{self.postgres_crashes}; broker kill -9: {self.broker_crashes}; exited on their "
            f"own and restarted: {dict(self.exits) or 'none'}; faults took {self.seconds} s"
        )


@contextlib.asynccontextmanager
async def private_stack(
    infra: PrivateInfra, run_dir: Path, workload: Workload
) -> AsyncIterator[Stack]:
    """The four services as processes on the private infrastructure (fresh databases each
    time: the stack's database names carry a random suffix)."""
    suffix = uuid.uuid4().hex[:8]
    specs = [type(s)(s.name, s.module, s.database, free_port()) for s in default_specs()]
    stack = Stack(
        database_url_base=infra.database_url_base,
        kafka_bootstrap_servers=infra.kafka_bootstrap_servers,
        run_dir=run_dir,
        specs=specs,
        topic_prefix=f"f{suffix}.",
        databases={s.name: f"{s.database}_{suffix}" for s in specs},
        extra_env={
            "run-orchestrator": {
                # Slow, bounded calls: the run is still going while the faults strike.
                "MOCK_LATENCY_MS": str(workload.mock_latency_ms),
                "MOCK_MAX_CONCURRENCY": str(workload.mock_concurrency),
            }
        },
    )
    admin = await asyncpg.connect(asyncpg_dsn(f"{infra.database_url_base}/postgres"))
    try:
        for name in stack.databases.values():
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    await asyncio.to_thread(stack.migrate)
    await asyncio.to_thread(stack.create_topics)
    stack.start_all()
    try:
        await asyncio.to_thread(stack.wait_ready)
        yield stack
    finally:
        stack.stop_all()


def database_dsn(stack: Stack, service: str) -> str:
    return asyncpg_dsn(f"{stack.database_url_base}/{stack.databases[service]}")


async def fetch(stack: Stack, service: str, query: str, *args: Any) -> list[asyncpg.Record]:
    """One query on a service's database, retried while PostgreSQL is down."""
    for attempt in range(600):
        try:
            connection = await asyncpg.connect(database_dsn(stack, service), timeout=5)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            if attempt == 599:
                raise
            await asyncio.sleep(0.2)
            continue
        try:
            rows: list[asyncpg.Record] = await connection.fetch(query, *args)
            return rows
        finally:
            await connection.close()
    raise AssertionError("unreachable")


async def call(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """A query-api call that outlives a query-api restart (connection errors and 5xx retried);
    only for idempotent calls (reads) or before any fault."""
    for _ in range(600):
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.TransportError:
            await asyncio.sleep(0.2)
            continue
        if response.status_code < 500:
            return response
        await asyncio.sleep(0.2)
    raise AssertionError(f"{method} {url} kept failing")


async def create_prompt(client: httpx.AsyncClient) -> str:
    """A prompt for the fault runs; returns its version id."""
    prompt = await client.post(
        "/api/v1/prompts",
        json={
            "name": f"faults {uuid.uuid4().hex[:6]}",
            "content": "Say {{ word }}",
            "variables": [{"name": "word"}],
        },
    )
    assert prompt.status_code == 201, prompt.text
    version_id: str = prompt.json()["current_version"]["id"]
    return version_id


async def start_run(client: httpx.AsyncClient, version_id: str, workload: Workload) -> str:
    tag = uuid.uuid4().hex[:4]
    response = await client.post(
        "/api/v1/test_prompt",
        json={
            "prompt_version_id": version_id,
            "cases": [{"word": f"w{tag}x{i}"} for i in range(workload.cases)],
            "repetitions": workload.repetitions,
            "assertions": [{"type": "contains", "value": "{{ word }}"}],
        },
    )
    # 202: recorded, but query-api's projection was not there within its read-your-writes wait
    # (a loaded machine); the run goes on all the same, and the fault tests read it back later.
    assert response.status_code in (201, 202), response.text
    body = response.json()
    run_id: str = body["id"] if response.status_code == 201 else body["run_id"]
    return run_id


async def start_runs(client: httpx.AsyncClient, workload: Workload) -> list[str]:
    version_id = await create_prompt(client)
    return [await start_run(client, version_id, workload) for _ in range(workload.runs)]


async def orchestrator_progress(stack: Stack, run_ids: list[str]) -> int:
    """Calls recorded over the runs, from the orchestrator's own table (the truth about how
    many calls were made, ahead of any projection)."""
    rows = await fetch(
        stack,
        "run-orchestrator",
        "SELECT coalesce(sum(recorded), 0) AS recorded FROM runs WHERE run_id = ANY($1::uuid[])",
        run_ids,
    )
    return int(rows[0]["recorded"])


def serving(stack: Stack, name: str) -> list[int]:
    """The pids of ``name``'s ``serve`` processes of this stack (its topic prefix and port)."""
    spec = stack.spec(name)
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if spec.module not in cmdline or "serve" not in cmdline:
            continue
        with contextlib.suppress(psutil.Error):
            environ = process.environ()
            if environ.get("KAFKA_TOPIC_PREFIX") == stack.topic_prefix and environ.get(
                "HTTP_PORT"
            ) == str(spec.port):
                found.append(process.info["pid"])
    return sorted(found)


class FaultInjector:
    """Strikes the faults, and meanwhile supervises the services as a deployment would
    (Kubernetes restarts a process that exits): a service that exits on its own, say because
    it could not start while PostgreSQL or Kafka was down, is started again and counted."""

    def __init__(self, stack: Stack, infra: PrivateInfra, draw: random.Random) -> None:
        self.stack = stack
        self.infra = infra
        self.draw = draw
        self.log = FaultLog()
        self._supervisor: asyncio.Task[None] | None = None
        self._killing: set[str] = set()
        """Services ``kill_service`` is killing and starting again: not the supervisor's. While
        the kill waits in its thread, the supervisor would find the service gone and start a
        copy, and the kill's own start a second one: two processes, one untracked (it held
        the port once, and the tracked one never answered)."""

    async def __aenter__(self) -> FaultInjector:
        self._supervisor = asyncio.create_task(self._supervise())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._supervisor is not None
        self._supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._supervisor

    async def _supervise(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            for name in SERVICES:
                if name not in self._killing and not self.stack.is_running(name):
                    self.log.exits[name] += 1
                    self.stack.start(name)

    async def kill_service(self, name: str) -> None:
        pid = self.stack.pid(name)
        assert pid is not None and _alive(pid), f"{name} is not running"
        self._killing.add(name)
        try:
            await asyncio.to_thread(self._kill_group, pid)
            self.log.kills[name] += 1
            self.stack.start(name)
        finally:
            self._killing.discard(name)

    @staticmethod
    def _kill_group(pid: int) -> None:
        os.killpg(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.02)

    async def crash_postgres(self, down_for: float) -> None:
        await asyncio.to_thread(self.infra.crash_postgres)
        self.log.postgres_crashes += 1
        await asyncio.sleep(down_for)
        await asyncio.to_thread(self.infra.up)

    async def crash_broker(self, down_for: float) -> None:
        await asyncio.to_thread(self.infra.crash_broker)
        self.log.broker_crashes += 1
        await asyncio.sleep(down_for)
        await asyncio.to_thread(self.infra.up)

    async def settle(self) -> None:
        """Waits until every service answers again (it may take a while after a crash); one
        that exits meanwhile is the supervisor's to start again. Then each runs once: a second
        copy would be a harness fault, not the system's."""
        await asyncio.to_thread(self.stack.wait_ready, 180.0, supervised=True)
        copies = {name: serving(self.stack, name) for name in SERVICES}
        assert all(len(pids) == 1 for pids in copies.values()), copies

    async def round(
        self, run_ids: list[str], calls_per_run: int, start_run: Callable[[], Awaitable[str]]
    ) -> None:
        """Every fault once, in a random order, each at a random point of a run: fault i waits
        until the orchestrator recorded a random share (sorted draws in 5-60 %) of the newest
        run's calls, so each strikes while calls are still being made. Recoveries overlap the
        next faults. On a machine where recovering takes longer than a run (the broker's JVM on
        busy cores), the newest run may finish first: then another run is started (appended to
        ``run_ids``, checked like the others) and the remaining faults strike during it."""
        faults: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            (f"kill {name}", functools.partial(self.kill_service, name)) for name in SERVICES
        ]
        faults.append(
            ("crash postgres", functools.partial(self.crash_postgres, self.draw.uniform(0.5, 2)))
        )
        faults.append(
            ("crash kafka", functools.partial(self.crash_broker, self.draw.uniform(0.5, 2)))
        )
        self.draw.shuffle(faults)
        points = sorted(self.draw.uniform(0.05, 0.6) for _ in faults)
        started = time.monotonic()
        for (label, fault), point in zip(faults, points, strict=True):
            while (recorded := await orchestrator_progress(self.stack, run_ids[-1:])) < int(
                point * calls_per_run
            ) or recorded >= calls_per_run:
                if recorded >= calls_per_run:
                    await self.settle()
                    run_ids.append(await start_run())
                await asyncio.sleep(0.05)
            self.log.mid_run.append((label, recorded, calls_per_run))
            struck = time.monotonic()
            await fault()
            self.log.fault_seconds.append(round(time.monotonic() - struck, 1))
        self.log.seconds.append(round(time.monotonic() - started, 1))
        self.log.rounds += 1


async def wait_finished(
    client: httpx.AsyncClient, run_ids: list[str], timeout: float
) -> dict[str, dict[str, Any]]:
    """Every run completed and evaluated, as query-api shows it."""
    states: dict[str, dict[str, Any]] = {}
    async with asyncio.timeout(timeout):
        for run_id in run_ids:
            while True:
                response = await call(client, "GET", f"/api/v1/test_prompt/{run_id}")
                state: dict[str, Any] = response.json()
                if state["status"] in ("completed", "failed", "cancelled") and state.get(
                    "evaluation_summary"
                ):
                    states[run_id] = state
                    break
                await asyncio.sleep(0.5)
    return states


@dataclass
class Verification:
    checked: list[str] = field(default_factory=list)
    kafka_duplicates: dict[str, int] = field(default_factory=dict)
    """Per topic, copies of an event id beyond the first (the relay re-sent after a crash)."""

    def ok(self, what: str) -> None:
        self.checked.append(what)


async def verify(
    client: httpx.AsyncClient, stack: Stack, run_ids: list[str], workload: Workload
) -> Verification:
    """Raises AssertionError on the first thing that happened other than exactly once."""
    v = Verification()
    total = workload.calls_per_run
    pairs = {(c, r) for c in range(workload.cases) for r in range(1, workload.repetitions + 1)}
    # A liveness bound, not a timing: after a broker restart on two loaded cores (CI runs the
    # query-api fuzz beside it) the consumers' reconnects took over 60 s once.
    states = await wait_finished(client, run_ids, timeout=180)

    # query-api, through its public API
    for run_id in run_ids:
        state = states[run_id]
        assert state["status"] == "completed", state
        counts = (state["recorded"], state["succeeded"], state["failed"])
        assert counts == (total, total, 0), counts
        assert state["evaluation_summary"]["evaluated"] == total, state["evaluation_summary"]
        page = await call(
            client, "GET", f"/api/v1/test_prompt/{run_id}/results", params={"limit": 10_000}
        )
        results = page.json()
        assert page.headers["X-Total-Count"] == str(total)
        assert [(r["case_index"], r["repetition"]) for r in results].__len__() == total
        assert {(r["case_index"], r["repetition"]) for r in results} == pairs
        names = [tuple(sorted(m["name"] for m in r["metrics"])) for r in results]
        assert len(set(names)) == 1 and len(set(names[0])) == len(names[0]), set(names)
        assert all({m["name"]: m["passed"] for m in r["metrics"]}["contains_0"] for r in results)
    v.ok(
        f"query-api API: {len(run_ids)} run(s) completed, {total} results each, one per "
        "(case, repetition), each with the same metric set once, evaluated == total"
    )

    # query-api, its tables
    rows = await fetch(
        stack,
        "query-api",
        "SELECT run_id::text, count(*) AS n, count(DISTINCT (case_index, repetition)) AS pairs "
        "FROM results WHERE run_id = ANY($1::uuid[]) GROUP BY run_id",
        run_ids,
    )
    assert sorted((r["n"], r["pairs"]) for r in rows) == [(total, total)] * len(run_ids), rows
    rows = await fetch(
        stack,
        "query-api",
        "SELECT count(*) AS n, count(DISTINCT (m.result_id, m.name)) AS d FROM metrics m "
        "JOIN results r USING (result_id) WHERE r.run_id = ANY($1::uuid[])",
        run_ids,
    )
    assert rows[0]["n"] == rows[0]["d"] > 0, dict(rows[0])
    v.ok("query-api tables: results and metrics rows each once")

    # The command services' event stores
    for service in COMMAND_SERVICES:
        rows = await fetch(
            stack,
            service,
            "SELECT count(*) AS n, count(DISTINCT event_id) AS ids, "
            # The outbox is a queue (ADR 0028): a row still in it is unpublished.
            "count(o.position) AS unpublished "
            "FROM events e LEFT JOIN outbox o USING (position)",
        )
        assert rows[0]["n"] == rows[0]["ids"] and rows[0]["unpublished"] == 0, dict(rows[0])
    for run_id in run_ids:
        rows = await fetch(
            stack,
            "run-orchestrator",
            "SELECT version, event_type, data FROM events WHERE stream_id = $1 ORDER BY version",
            run_id,
        )
        assert [r["version"] for r in rows] == list(range(1, len(rows) + 1))
        kinds = Counter(r["event_type"].split(".")[2] for r in rows)
        kinds.pop("progressed", None)
        assert kinds == {"created": 1, "started": 1, "result_recorded": total, "completed": 1}
        recorded = [_pair(r["data"]) for r in rows if r["event_type"] == RESULT_RECORDED]
        assert len(recorded) == len(set(recorded)) == total
        rows = await fetch(
            stack,
            "evaluator",
            "SELECT event_type, data->>'result_id' AS result_id FROM events "
            "WHERE data->>'run_id' = $1",
            run_id,
        )
        evaluated = Counter(r["result_id"] for r in rows if r["event_type"] == RESULT_EVALUATED)
        assert len(evaluated) == total and set(evaluated.values()) == {1}, evaluated.most_common(3)
        assert sum(r["event_type"] == RUN_EVALUATED for r in rows) == 1
    v.ok(
        "event stores: every event once and published; per run 1 created, 1 started, "
        f"{total} result_recorded (distinct pairs), 1 completed; 1 result_evaluated per "
        "result, 1 run_evaluated"
    )

    # The evaluator's own tables
    rows = await fetch(
        stack,
        "evaluator",
        "SELECT r.run_id, r.evaluated, (SELECT count(*) FROM result_outcomes o "
        "WHERE o.run_id = r.run_id) AS outcomes FROM runs r WHERE r.run_id = ANY($1::text[])",
        run_ids,
    )
    assert sorted((r["evaluated"], r["outcomes"]) for r in rows) == [(total, total)] * len(run_ids)
    v.ok("evaluator tables: evaluated == result_outcomes == total per run")

    # Nothing was dead-lettered: an infrastructure fault is never an event's fault.
    for service in CONSUMING_SERVICES:
        rows = await fetch(stack, service, "SELECT count(*) AS n FROM dead_letters")
        assert rows[0]["n"] == 0, f"{service} dead-lettered {rows[0]['n']} event(s)"
    v.ok("no dead letters in any consumer")

    # Kafka: every stored event on its topic; duplicate copies counted; every consumer read
    # past them (stored offsets at the end of each partition) and applied them once (above).
    stored_ids: set[str] = set()
    for service in COMMAND_SERVICES:
        rows = await fetch(stack, service, "SELECT event_id::text AS id FROM events")
        stored_ids |= {r["id"] for r in rows}
    seen: set[str] = set()
    ends: dict[tuple[str, int], int] = {}
    for topic in ALL_EVENT_TOPICS:
        ids, topic_ends = await _read_ids(stack, topic)
        ends |= {(topic, p): end for p, end in topic_ends.items()}
        copies = Counter(ids)
        v.kafka_duplicates[topic] = sum(n - 1 for n in copies.values())
        seen |= set(copies)
        dlq, _ = await _read_ids(stack, dlq_topic(topic))
        assert dlq == [], f"{len(dlq)} record(s) on {dlq_topic(topic)}"
    assert seen == stored_ids, (len(seen - stored_ids), len(stored_ids - seen))
    for service in CONSUMING_SERVICES:
        rows = await fetch(
            stack, service, "SELECT consumer, topic, partition, next_offset FROM consumer_offsets"
        )
        for row in rows:
            end = ends[(row["topic"], row["partition"])]
            assert row["next_offset"] == end, (service, dict(row), end)
    for trace in await trace_results(stack, run_ids):
        assert trace.in_order, trace.describe()
    v.ok(
        f"Kafka: every stored event on its topic ({len(stored_ids)} ids), none on a DLQ; "
        "each run's stream on one partition, first copies in version order; "
        f"duplicate copies {v.kafka_duplicates}, all read (consumer offsets at each "
        "partition's end) and dropped (effects above once)"
    )
    return v


def _pair(data: Any) -> tuple[int, int]:
    value = json.loads(data) if isinstance(data, str) else data
    return int(value["case_index"]), int(value["repetition"])


async def _read_ids(stack: Stack, topic: str) -> tuple[list[str], dict[int, int]]:
    """Every record's ``ce_id`` on ``topic`` (prefixed for the stack), and each partition's end."""
    ends: dict[int, int] = {}
    records = await read_records(stack.kafka_bootstrap_servers, stack.topic_prefix + topic, ends)
    return [headers.get("ce_id", b"").decode() for _, headers in records], ends


async def read_records(
    bootstrap_servers: str, topic: str, ends: dict[int, int] | None = None
) -> list[tuple[int, dict[str, bytes]]]:
    """Every record's partition and headers on ``topic`` (its name on the broker), in each
    partition's order; ``ends`` is filled with each partition's end offset."""
    # Without a group, a subscription is assigned every partition of the topic.
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
    )
    records: list[tuple[int, dict[str, bytes]]] = []
    await consumer.start()
    try:
        async with asyncio.timeout(30):
            while not (partitions := sorted(consumer.assignment())):
                await asyncio.sleep(0.05)
        await consumer.seek_to_beginning(*partitions)
        end_offsets = await consumer.end_offsets(partitions)
        if ends is not None:
            ends.update({tp.partition: end_offsets[tp] for tp in partitions})
        remaining = {tp for tp in partitions if end_offsets[tp] > 0}
        async with asyncio.timeout(60):
            while remaining:
                batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                for tp, messages in batch.items():
                    records += ((tp.partition, dict(m.headers or ())) for m in messages)
                    if messages and messages[-1].offset + 1 >= end_offsets[tp]:
                        remaining.discard(tp)
    finally:
        await consumer.stop()
    return records


@dataclass
class ResultTrace:
    """Where one run's results got to, hop by hop (``trace_results``)."""

    run_id: str
    stored_results: int
    stored_versions: int
    partitions: list[int]
    """The run topic's partitions holding the run's stream: one, unless a key went astray."""
    copies: int
    late: list[int]
    """``StreamCopies.late``."""
    missing: list[int]
    """Stored versions with no copy on the topic."""
    evaluator: dict[str, Any]
    query_api: dict[str, Any]
    dead_letters: dict[str, int]

    @property
    def in_order(self) -> bool:
        return len(self.partitions) == 1 and not self.late and not self.missing

    def describe(self) -> str:
        return (
            f"run {self.run_id}: orchestrator stored {self.stored_results} results "
            f"({self.stored_versions} stream versions); on {RUN_EVENTS} partitions "
            f"{self.partitions}: {self.copies} copies, {len(self.late)} first seen after a "
            f"later version {self.late[:10]}, {len(self.missing)} missing {self.missing[:10]}; "
            f"evaluator {self.evaluator}; query-api {self.query_api}; dead letters "
            f"{self.dead_letters}"
        )


async def trace_results(stack: Stack, run_ids: list[str]) -> list[ResultTrace]:
    """Where each run's results got to, stage by stage: the orchestrator's event store, the run
    topic (one partition, first copies in version order), the evaluator, and query-api. A run
    whose read model misses results says which hop lost them."""
    dead = {
        service: (await fetch(stack, service, "SELECT count(*) AS n FROM dead_letters"))[0]["n"]
        for service in CONSUMING_SERVICES
    }
    topic = stack.topic_prefix + RUN_EVENTS
    on_topic = streams_on(await read_records(stack.kafka_bootstrap_servers, topic))
    traces: list[ResultTrace] = []
    for run_id in run_ids:
        stored = await fetch(
            stack,
            "run-orchestrator",
            "SELECT version, event_type FROM events WHERE stream_id = $1 ORDER BY version",
            run_id,
        )
        copies = on_topic.get(run_id, StreamCopies())
        evaluator = await fetch(
            stack,
            "evaluator",
            "SELECT (SELECT count(*) FROM result_outcomes WHERE run_id::text = $1::text) "
            "AS outcomes, (SELECT evaluated FROM runs WHERE run_id::text = $1::text) AS evaluated",
            run_id,
        )
        read = await fetch(
            stack,
            "query-api",
            # One type for the parameter (text), cast where a column is a uuid.
            "SELECT (SELECT count(*) FROM results WHERE run_id = CAST($1::text AS uuid)) "
            "AS results, (SELECT recorded FROM runs WHERE run_id = CAST($1::text AS uuid)) "
            "AS recorded, (SELECT max(version) FROM consumer_stream_positions "
            "WHERE stream_id = $1::text) AS applied",
            run_id,
        )
        traces.append(
            ResultTrace(
                run_id=run_id,
                stored_results=sum(r["event_type"] == RESULT_RECORDED for r in stored),
                stored_versions=len(stored),
                partitions=sorted(copies.partitions),
                copies=len(copies.versions),
                late=copies.late,
                missing=sorted({r["version"] for r in stored} - set(copies.versions)),
                evaluator=dict(evaluator[0]),
                query_api=dict(read[0]),
                dead_letters=dead,
            )
        )
    return traces


def describe(traces: list[ResultTrace]) -> str:
    return "\n".join(trace.describe() for trace in traces)


@dataclass
class StreamCopies:
    """One stream's records on a topic: their versions in log order and their partitions."""

    versions: list[int] = field(default_factory=list)
    partitions: set[int] = field(default_factory=set)

    @property
    def first(self) -> list[int]:
        """Each version once, where its first copy is."""
        return list(dict.fromkeys(self.versions))

    @property
    def late(self) -> list[int]:
        """Versions whose first copy came after a later version's: every consumer skips them
        as duplicates."""
        first = self.first
        highest = itertools.accumulate(first, max)
        return [v for v, top in zip(first[1:], highest, strict=False) if v < top]


def streams_on(records: list[tuple[int, dict[str, bytes]]]) -> dict[str, StreamCopies]:
    """``read_records``' records grouped by stream (``ce_subject``)."""
    streams: dict[str, StreamCopies] = {}
    for partition, headers in records:
        copies = streams.setdefault(headers.get("ce_subject", b"").decode(), StreamCopies())
        copies.versions.append(int(headers.get("ce_streamversion", b"0")))
        copies.partitions.add(partition)
    return streams


def query_api_client(stack: Stack) -> httpx.AsyncClient:
    """The fault tests' client of query-api, as the stack's bootstrap admin."""
    return stack.api_client(timeout=30)


def services_report(stack: Stack, lines: int = 30) -> str:
    """Each service's last warnings and errors, repeats folded (``(N times)``): a run that did not
    finish after a fault says which service stopped making progress, when, and why."""
    report: list[str] = []
    for name in SERVICES:
        path = stack.log_file(name)
        text = path.read_text(errors="replace") if path.exists() else ""
        folded: list[tuple[str, int]] = []
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                entry = {"event": line, "level": "?"}
            if not isinstance(entry, dict) or entry.get("level") in ("debug", "info"):
                continue
            what = f"{entry.get('logger', '')} {entry.get('event', '')} {entry.get('error', '')}"
            if folded and folded[-1][0].endswith(what):
                folded[-1] = (folded[-1][0], folded[-1][1] + 1)
            else:
                folded.append((f"{entry.get('timestamp', '?')} {what}", 1))
        report.append(f"--- {name}: last warnings and errors of {path}:")
        report += [f"{line} ({n} times)" if n > 1 else line for line, n in folded[-lines:]]
    return "\n".join(report)
