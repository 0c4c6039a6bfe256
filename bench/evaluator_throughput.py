"""Benchmark: evaluator processes evaluating a backlog of one run's results (10,000 by default)
with eight text assertions plus BLEU and ROUGE-L against each case's expected output.

1. Produces one run to Kafka as real CloudEvents, as run-orchestrator's relay publishes them:
   ``RunCreated`` (1,000 cases with an expected output each, 10 repetitions, the 10
   assertions), 10,000 ``ResultRecorded`` (seeded sentences of 20-40 words), ``RunCompleted``.
2. Starts ``--processes`` evaluator processes (``python -m evaluator serve``, one consumer
   group, one database: replicas) on a freshly migrated database; they consume the backlog
   (one partition, so one consumer) and share its evaluation (ADR 0022).
3. Times ``RunPlan.judge`` alone over the same results in this process (CPU time), then,
   from the first result evaluated (its transaction committed) until the run's
   ``RunEvaluated`` is committed, and until the outbox has been published to Kafka too; prints
   results/s, each process's share (its ``promptworks_evaluator_results_evaluated_total``) and
   where the CPU time went (user + system seconds of each evaluator process, of the PostgreSQL
   backends serving the bench's database, and of the Kafka broker, over the same window).

    uv run python -m bench.evaluator_throughput [--cases 1000] [--repetitions 10] [--profile F]
        [--baseline] [--processes 2] [--durable] [--claim-size 500]

Without ``--durable`` it uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL_BASE when set (the shared
test stack: ``fsync`` off), else starts the test stack. ``--durable`` starts a private
PostgreSQL + Kafka with durable settings (``tests/support/private_infra.py``), removed at the
end. The database and the topics are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import psutil
from aiokafka import AIOKafkaProducer

from bench.machine import python_gauge_seconds
from bench.prompt_list import chosen_infra
from evaluator.domain.plan import RunPlan
from promptworks_contracts.envelope import Envelope
from promptworks_contracts.events import DomainEvent, ResultRecorded, RunCompleted, RunCreated
from promptworks_contracts.topics import RUN_EVENTS
from promptworks_contracts.values import ModelParameters, ModelRef, TextTemplate, TokenUsage
from promptworks_eventkit.db import asyncpg_dsn
from promptworks_eventkit.settings import KafkaSettings
from tests.support.credentials import service_headers
from tests.support.fake_openai import free_port
from tests.support.infra import (
    Infra,
    create_database,
    delete_topics,
    drop_database,
    isolated_kafka,
    migrate,
)

ASSERTIONS: list[dict[str, Any]] = [
    {"type": "contains", "value": "{{ topic }}"},
    {"type": "icontains", "value": "THE"},
    {"type": "not-contains", "value": "as an AI"},
    {"type": "contains-any", "values": ["river", "mountain", "city", "forest"]},
    {"type": "contains-all", "values": ["the", "and"]},
    {"type": "starts-with", "value": "The"},
    {"type": "ends-with", "value": "."},
    {"type": "regex", "pattern": r"\b[A-Z][a-z]+\b.*\d"},
    {"type": "bleu", "threshold": 0.2},
    {"type": "rouge-l", "threshold": 0.4},
]
BASELINE: list[dict[str, Any]] = [{"type": "contains", "value": "{{ topic }}"}]
"""``--baseline``: one check and no expected output, to show what the pipeline costs alone."""
WORDS = [
    "the",
    "river",
    "and",
    "mountain",
    "city",
    "forest",
    "old",
    "new",
    "bright",
    "quiet",
    "people",
    "walk",
    "along",
    "road",
    "near",
    "bridge",
    "market",
    "morning",
    "evening",
    "light",
    "rain",
    "wind",
    "stone",
    "house",
    "garden",
    "north",
    "south",
    "east",
    "west",
]
TOPICS = ["river", "mountain", "city", "forest", "market", "garden"]


def sentence(rng: random.Random, topic: str) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(20, 40))]
    words.insert(rng.randint(0, len(words)), topic)
    return f"The {' '.join(words)} {rng.randint(1, 999)}."


def paraphrase(rng: random.Random, text: str) -> str:
    """The reference with about a fifth of its words changed (a plausible model output)."""
    words = text.rstrip(".").split()
    for i in range(1, len(words)):
        if rng.random() < 0.2:
            words[i] = rng.choice(WORDS)
    return " ".join(words) + "."


def run_events(cases: int, repetitions: int, baseline: bool = False) -> list[DomainEvent]:
    rng = random.Random(20261128)
    run_id = uuid.uuid4()
    topics = [rng.choice(TOPICS) for _ in range(cases)]
    expected = [sentence(rng, topic) for topic in topics]
    created = RunCreated.model_validate(
        {
            "run_id": run_id,
            "prompt_id": uuid.uuid4(),
            "prompt_version_id": uuid.uuid4(),
            "prompt_version_number": 1,
            "template": TextTemplate(text="Describe a {{ topic }}."),
            "model": ModelRef(provider="mock", name="echo"),
            "parameters": ModelParameters(),
            "repetitions": repetitions,
            "cases": [{"topic": topic} for topic in topics],
            "expected": [] if baseline else expected,
            "assertions": BASELINE if baseline else ASSERTIONS,
            "total_calls": cases * repetitions,
        }
    )
    results: list[DomainEvent] = [
        ResultRecorded(
            run_id=run_id,
            result_id=uuid.uuid4(),
            case_index=case,
            repetition=repetition,
            output=paraphrase(rng, expected[case]),
            latency_ms=rng.uniform(50, 900),
            usage=TokenUsage(prompt_tokens=12, completion_tokens=40, total_tokens=52),
        )
        for repetition in range(1, repetitions + 1)
        for case in range(cases)
    ]
    done = RunCompleted(run_id=run_id, status="completed", succeeded=len(results), failed=0)
    return [created, *results, done]


async def produce(kafka: KafkaSettings, events: list[DomainEvent]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers,
        linger_ms=20,
        max_batch_size=1 << 20,
        max_request_size=kafka.max_message_bytes,
    )
    await producer.start()
    try:
        sends = []
        for version, event in enumerate(events, start=1):
            stream = event.stream_id()
            envelope = Envelope(
                id=uuid.uuid4(),
                type=event.event_type,
                source="/run-orchestrator",
                subject=stream,
                time=datetime.now(UTC),
                correlationid=f"bench-{stream}",
                streamversion=version,
            )
            sends.append(
                await producer.send(
                    kafka.topic(RUN_EVENTS),
                    key=stream.encode(),
                    value=event.model_dump_json().encode(),
                    headers=envelope.to_kafka_headers(),
                )
            )
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


def start_evaluator(
    database_url: str, kafka: KafkaSettings, profile: str | None, port: int, claim_size: int
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        "HTTP_PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "EVALUATION_CLAIM_SIZE": str(claim_size),
    }
    # CPU time, not wall time: on a shared machine a wall-clock profile charges a function for
    # the time its process waited for a core (bench/profiled.py).
    command = ["-m", "bench.profiled", profile, "evaluator"] if profile else ["-m", "evaluator"]
    return subprocess.Popen([sys.executable, *command, "serve"], env=env)


async def evaluated_by(port: int) -> int | None:
    """What one evaluator process's workers evaluated (its Prometheus counter)."""
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=service_headers(), timeout=10
        ) as client:
            body = (await client.get("/metrics")).text
    except httpx.HTTPError:
        return None
    found = re.search(r"^promptworks_evaluator_results_evaluated_total (\S+)$", body, re.M)
    return None if found is None else int(float(found.group(1)))


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


def infrastructure_processes(database: str, kafka_port: int) -> dict[str, list[psutil.Process]]:
    """The PostgreSQL backends serving ``database`` (their titles name it; other engineers'
    databases on the same server are left out) and the broker listening on ``kafka_port``."""
    found: dict[str, list[psutil.Process]] = {"postgres": [], "kafka": []}
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if cmdline.startswith("postgres:") and f" {database} " in f"{cmdline} ":
            found["postgres"].append(process)
        elif "kafka.Kafka" in cmdline:
            with contextlib.suppress(psutil.Error):
                if any(
                    c.laddr and c.laddr.port == kafka_port and c.status == psutil.CONN_LISTEN
                    for c in process.net_connections("tcp")
                ):
                    found["kafka"].append(process)
    return found


async def watch(
    database_url: str, kafka_port: int, evaluators: list[psutil.Process], results: int
) -> dict[str, Any]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    infra: dict[str, list[psutil.Process]] = {}
    own = 0  # this watcher's statements: each is a transaction of its own, left out
    try:
        started = first = None
        while True:
            row = await connection.fetchrow("SELECT evaluated, status FROM runs LIMIT 1")
            own += 1
            now = time.perf_counter()
            if row is not None and row["evaluated"] > 0 and first is None:
                first, started = now, row["evaluated"]
                commits_before = await commits(connection)
                own = 1  # the statement that read it
                # The evaluators' connections exist by now.
                infra = infrastructure_processes(database_url.rsplit("/", 1)[1], kafka_port)
                sched_before = [main_thread_sched(e.pid) for e in evaluators]
                cpu_before = {
                    **{f"evaluator_{i}": cpu_seconds([e]) for i, e in enumerate(evaluators)},
                    **{k: cpu_seconds(v) for k, v in infra.items()},
                }
            if row is not None and row["status"] != "running":
                assert row["evaluated"] == results, row
                evaluated_at = now
                break
            await asyncio.sleep(0.02)
        while await connection.fetchval("SELECT count(*) FROM outbox"):
            own += 1
            await asyncio.sleep(0.02)
        own += 1
        published_at = time.perf_counter()
        sched_after = [main_thread_sched(e.pid) for e in evaluators]
        await asyncio.sleep(1.0)  # PostgreSQL's statistics are flushed at most once a second
        committed = await commits(connection) - commits_before - own - 1  # its own snapshot
        cpu_after = {
            **{f"evaluator_{i}": cpu_seconds([e]) for i, e in enumerate(evaluators)},
            **{k: cpu_seconds(v) for k, v in infra.items()},
        }
        dead = await connection.fetchval("SELECT count(*) FROM dead_letters")
        assert dead == 0, f"{dead} events were dead-lettered"
        # Events appended in one transaction share ``recorded_at`` (now() = its start): the
        # number of worker claims, and so their average size.
        claims = await connection.fetchval(
            "SELECT count(DISTINCT recorded_at) FROM events WHERE event_type = $1",
            "promptworks.evaluation.result_evaluated.v1",
        )
        summary = json.loads(
            await connection.fetchval(
                "SELECT data::text FROM events WHERE event_type = $1",
                "promptworks.evaluation.run_evaluated.v1",
            )
        )
    finally:
        await connection.close()
    assert first is not None and started is not None
    counted = results - started  # the results of the first committed batch are not timed
    window = published_at - first
    if counted == 0 or evaluated_at == first:
        raise SystemExit("one batch evaluated everything: nothing to time (use more results)")
    return {
        "results": results,
        "timed_results": counted,
        "seconds_to_evaluated": round(evaluated_at - first, 3),
        "seconds_to_published": round(window, 3),
        "results_per_second_evaluated": round(counted / (evaluated_at - first)),
        "results_per_second_published": round(counted / window),
        "cpu_seconds": {k: round(cpu_after[k] - cpu_before[k], 2) for k in cpu_after},
        # Each evaluator's event-loop thread over the window: on a core, runnable but waiting
        # for one (a busy machine), and the rest, blocked with nothing to run (waiting on
        # PostgreSQL or Kafka): the time overlapping claims can fill.
        "evaluator_loop_seconds": [
            {
                "running": round(after[0] - before[0], 2),
                "waiting_for_a_core": round(after[1] - before[1], 2),
                "blocked": round(window - (after[0] - before[0]) - (after[1] - before[1]), 2),
            }
            for before, after in zip(sched_before, sched_after, strict=True)
        ],
        "wall_seconds": round(window, 2),
        "run_pass_rate": summary.get("pass_rate"),
        "transactions_appending_results": claims,
        # Every transaction committed on the bench's database in the window (the consumer's
        # batches, the workers' claims, the relay's marks, idle polls), per 1,000 results.
        "commits_per_1000_results": round(committed / counted * 1000, 1),
    }


def main_thread_sched(pid: int) -> tuple[float, float]:
    """Seconds the process's main thread ran and waited runnable for a core so far (Linux
    ``schedstat``)."""
    with open(f"/proc/{pid}/task/{pid}/schedstat") as stat:
        running, waiting, _ = stat.read().split()
    return int(running) / 1e9, int(waiting) / 1e9


async def commits(connection: asyncpg.Connection) -> int:
    """Transactions committed on this database so far (``pg_stat_database``)."""
    await connection.execute("SELECT pg_stat_clear_snapshot()")
    return int(
        await connection.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
    )


def judge_alone(events: list[DomainEvent]) -> dict[str, float]:
    """The checks alone, in this process: ``RunPlan.judge`` over the first 10,000 results (CPU
    time), the upper bound of what the pipeline around them can reach."""
    created = events[0]
    assert isinstance(created, RunCreated)
    results = [e for e in events if isinstance(e, ResultRecorded)][:10_000]
    plan = RunPlan.compile(created.assertions, created.cases, created.expected)
    started = time.process_time()
    for recorded in results:
        plan.judge(recorded)
    seconds = time.process_time() - started
    return {
        "cpu_seconds": round(seconds, 2),
        "results_per_cpu_second": round(len(results) / seconds),
    }


async def main(
    infra: Infra,
    cases: int,
    repetitions: int,
    profile: str | None,
    baseline: bool,
    processes: int,
    claim_size: int,
) -> dict[str, Any]:
    kafka = await isolated_kafka(infra)
    url = await create_database(infra, "evaluator")
    started: list[subprocess.Popen[bytes]] = []
    ports = [free_port() for _ in range(processes)]
    try:
        await migrate("evaluator", url)
        events = run_events(cases, repetitions, baseline)
        alone = judge_alone(events)
        produced = time.perf_counter()
        await produce(kafka, events)
        produce_seconds = time.perf_counter() - produced
        for number, port in enumerate(ports):
            profiled = f"{profile}.{number}" if profile and processes > 1 else profile
            started.append(start_evaluator(url, kafka, profiled, port, claim_size))
        kafka_port = int(kafka.bootstrap_servers.rsplit(":", 1)[1])
        report = await asyncio.wait_for(
            watch(url, kafka_port, [psutil.Process(p.pid) for p in started], cases * repetitions),
            timeout=1800,
        )
        shares = [await evaluated_by(port) for port in ports]
        evaluator_cpu = sum(
            v for k, v in report["cpu_seconds"].items() if k.startswith("evaluator")
        )
        return {
            "nproc": os.cpu_count(),
            "python_gauge_seconds": python_gauge_seconds(),
            "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
            "processes": processes,
            "claim_size": claim_size,
            "assertions": [a["type"] for a in (BASELINE if baseline else ASSERTIONS)],
            "produce_seconds": round(produce_seconds, 2),
            "judge_alone": alone,
            **report,
            "evaluated_by_process": shares,
            "evaluator_results_per_cpu_second": round(report["timed_results"] / evaluator_cpu),
        }
    finally:
        for process in started:
            # SIGINT lets cProfile write its statistics on the way out.
            process.send_signal(signal.SIGINT) if profile else process.terminate()
        for process in started:
            process.wait(timeout=60)
        await drop_database(infra, url)
        await delete_topics(kafka)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--repetitions", type=int, default=10)
    parser.add_argument(
        "--profile", help="run the evaluator under cProfile (CPU time), stats to this file"
    )
    parser.add_argument(
        "--baseline", action="store_true", help="one contains check, no expected outputs"
    )
    parser.add_argument("--processes", type=int, default=1, help="evaluator replicas")
    parser.add_argument("--claim-size", type=int, default=500, help="EVALUATION_CLAIM_SIZE")
    parser.add_argument(
        "--durable", action="store_true", help="a private PostgreSQL + Kafka with fsync on"
    )
    arguments = parser.parse_args()
    print("load average at start:", [round(x, 1) for x in os.getloadavg()], flush=True)
    with chosen_infra(arguments.durable) as chosen:
        report = asyncio.run(
            main(
                chosen,
                arguments.cases,
                arguments.repetitions,
                arguments.profile,
                arguments.baseline,
                arguments.processes,
                arguments.claim_size,
            )
        )
    print(json.dumps(report, indent=2))
