"""Benchmark: one evaluator process evaluating a backlog of 10,000 results with eight text
assertions plus BLEU and ROUGE-L against each case's expected output.

1. Produces one run to Kafka as real CloudEvents, as run-orchestrator's relay publishes them:
   ``RunCreated`` (1,000 cases with an expected output each, 10 repetitions, the 10
   assertions), 10,000 ``ResultRecorded`` (seeded sentences of 20-40 words), ``RunCompleted``.
2. Starts the evaluator as its own process (``python -m evaluator serve``) on a freshly
   migrated database; it consumes the backlog.
3. Times ``RunPlan.judge`` alone over the same results in this process (CPU time), then,
   from the first result evaluated (its transaction committed) until the run's
   ``RunEvaluated`` is committed, and until the outbox has been published to Kafka too; prints
   results/s and where the process spent its CPU time (user + system seconds of the evaluator
   and of the machine's PostgreSQL and Kafka processes over the same window, when visible).

    uv run python -m bench.evaluator_throughput [--cases 1000] [--repetitions 10] [--profile F]
        [--baseline]

Uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL_BASE when set, else starts the test stack. The
database and the topics are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import psutil
from aiokafka import AIOKafkaProducer

from evaluator.domain.plan import RunPlan
from promptworks_contracts.envelope import Envelope
from promptworks_contracts.events import DomainEvent, ResultRecorded, RunCompleted, RunCreated
from promptworks_contracts.topics import RUN_EVENTS
from promptworks_contracts.values import ModelParameters, ModelRef, TextTemplate, TokenUsage
from promptworks_eventkit.db import asyncpg_dsn
from promptworks_eventkit.settings import KafkaSettings
from tests.support.fake_openai import free_port
from tests.support.infra import (
    create_database,
    delete_topics,
    drop_database,
    isolated_kafka,
    migrate,
    start_infra,
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
        bootstrap_servers=kafka.bootstrap_servers, linger_ms=20, max_batch_size=1 << 20
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
    database_url: str, kafka: KafkaSettings, profile: str | None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        "HTTP_PORT": str(free_port()),
        "LOG_LEVEL": "WARNING",
    }
    profiler = ["-m", "cProfile", "-o", profile] if profile else []
    return subprocess.Popen([sys.executable, *profiler, "-m", "evaluator", "serve"], env=env)


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            continue
    return total


def infrastructure_processes() -> dict[str, list[psutil.Process]]:
    found: dict[str, list[psutil.Process]] = {"postgres": [], "kafka": []}
    for process in psutil.process_iter(["name", "cmdline"]):
        name = process.info["name"] or ""
        cmdline = " ".join(process.info["cmdline"] or [])
        if name.startswith("postgres"):
            found["postgres"].append(process)
        elif "kafka.Kafka" in cmdline:
            found["kafka"].append(process)
    return found


async def watch(database_url: str, evaluator: psutil.Process, results: int) -> dict[str, Any]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    infra: dict[str, list[psutil.Process]] = {}
    try:
        started = first = None
        while True:
            row = await connection.fetchrow("SELECT evaluated, status FROM runs LIMIT 1")
            now = time.perf_counter()
            if row is not None and row["evaluated"] > 0 and first is None:
                first, started = now, row["evaluated"]
                infra = infrastructure_processes()  # the evaluator's connections exist by now
                cpu_before = {
                    "evaluator": cpu_seconds([evaluator]),
                    **{k: cpu_seconds(v) for k, v in infra.items()},
                }
            if row is not None and row["status"] != "running":
                assert row["evaluated"] == results, row
                evaluated_at = now
                break
            await asyncio.sleep(0.02)
        while await connection.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
            await asyncio.sleep(0.02)
        published_at = time.perf_counter()
        cpu_after = {
            "evaluator": cpu_seconds([evaluator]),
            **{k: cpu_seconds(v) for k, v in infra.items()},
        }
        dead = await connection.fetchval("SELECT count(*) FROM dead_letters")
        assert dead == 0, f"{dead} events were dead-lettered"
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
        "wall_seconds": round(window, 2),
        "run_pass_rate": summary.get("pass_rate"),
    }


def judge_alone(events: list[DomainEvent]) -> dict[str, float]:
    """The checks alone, in this process: ``RunPlan.judge`` over every result (CPU time), the
    upper bound of what the consumer around them can reach."""
    created = events[0]
    assert isinstance(created, RunCreated)
    results = [e for e in events if isinstance(e, ResultRecorded)]
    plan = RunPlan.compile(created.assertions, created.cases, created.expected)
    started = time.process_time()
    for recorded in results:
        plan.judge(recorded)
    seconds = time.process_time() - started
    return {
        "cpu_seconds": round(seconds, 2),
        "results_per_cpu_second": round(len(results) / seconds),
    }


async def main(cases: int, repetitions: int, profile: str | None, baseline: bool) -> dict[str, Any]:
    infra = start_infra()
    kafka = await isolated_kafka(infra)
    url = await create_database(infra, "evaluator")
    process = None
    try:
        await migrate("evaluator", url)
        events = run_events(cases, repetitions, baseline)
        alone = judge_alone(events)
        produced = time.perf_counter()
        await produce(kafka, events)
        produce_seconds = time.perf_counter() - produced
        process = start_evaluator(url, kafka, profile)
        report = await asyncio.wait_for(
            watch(url, psutil.Process(process.pid), cases * repetitions), timeout=900
        )
        return {
            "nproc": os.cpu_count(),
            "assertions": [a["type"] for a in (BASELINE if baseline else ASSERTIONS)],
            "produce_seconds": round(produce_seconds, 2),
            "judge_alone": alone,
            **report,
            "evaluator_results_per_cpu_second": round(
                report["timed_results"] / report["cpu_seconds"]["evaluator"]
            ),
        }
    finally:
        if process is not None:
            # SIGINT lets cProfile write its statistics on the way out.
            process.send_signal(signal.SIGINT) if profile else process.terminate()
            process.wait(timeout=30)
        await drop_database(infra, url)
        await delete_topics(kafka)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--repetitions", type=int, default=10)
    parser.add_argument("--profile", help="run the evaluator under cProfile, stats to this file")
    parser.add_argument(
        "--baseline", action="store_true", help="one contains check, no expected outputs"
    )
    arguments = parser.parse_args()
    report = asyncio.run(
        main(arguments.cases, arguments.repetitions, arguments.profile, arguments.baseline)
    )
    print(json.dumps(report, indent=2))
