"""Benchmark: a finished run re-evaluated by evaluator replicas (ADR 0022, addendum): its kept
results queued for the re-evaluation and claimed by the workers of every process.

1. Produces one run to Kafka as real CloudEvents (``bench.evaluator_throughput``'s run: seeded
   sentences, an expected output per case), 100,000 results by default, pinned to one cheap
   check (``contains``) so that its first evaluation is quick.
2. Starts ``--processes`` evaluator processes (one consumer group, one database) and waits for
   the run's first evaluation.
3. Defines an evaluator with the ten assertions of ``bench.evaluator_throughput`` (eight text
   checks, BLEU, ROUGE-L) and asks for the re-evaluation (``POST /runs/{id}/evaluations``);
   times it from the request to its kept results being queued (one ``INSERT ... SELECT``) and
   to its ``RunEvaluated`` being committed; prints results/s, each process's share (its
   ``promptworks_evaluator_results_evaluated_total`` moved by the re-evaluation), the peak
   RSS of each evaluator process (``bench.e2e_run.PeakMemory``, sampled every 100 ms) during
   the first evaluation and during
   the re-evaluation, and the CPU seconds of the evaluators and of the PostgreSQL backends
   serving the bench's database over the re-evaluation.

    uv run python -m bench.reevaluation [--cases 10000] [--repetitions 10] [--processes 2]
        [--claim-size 500] [--durable]

Without ``--durable`` it uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL_BASE when set (the shared
test stack: ``fsync`` off), else starts the test stack. ``--durable`` starts a private
PostgreSQL + Kafka with durable settings (``tests/support/private_infra.py``), removed at the
end. The database and the topics are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import time
from typing import Any

import asyncpg
import httpx
import psutil

from bench.e2e_run import PeakMemory
from bench.evaluator_throughput import (
    ASSERTIONS,
    BASELINE,
    cpu_seconds,
    evaluated_by,
    infrastructure_processes,
    produce,
    run_events,
    start_evaluator,
)
from bench.prompt_list import chosen_infra
from promptworks_contracts.events import RunCreated
from promptworks_eventkit.db import asyncpg_dsn
from tests.support.credentials import SERVICE_TOKEN, service_headers
from tests.support.fake_openai import free_port
from tests.support.infra import (
    Infra,
    create_database,
    delete_topics,
    drop_database,
    isolated_kafka,
    migrate,
)


def peaks_mib(peaks: PeakMemory) -> list[float]:
    return [round(mib, 1) for mib in peaks.peak_mib.values()]


async def first_evaluation(connection: asyncpg.Connection, results: int) -> float:
    started = time.perf_counter()
    while True:
        row = await connection.fetchrow("SELECT evaluated, status FROM runs LIMIT 1")
        if row is not None and row["status"] != "running":
            assert row["evaluated"] == results, row
            return time.perf_counter() - started
        await asyncio.sleep(0.05)


async def reevaluate(
    connection: asyncpg.Connection,
    client: httpx.AsyncClient,
    run_id: str,
    evaluators: list[psutil.Process],
    infra: dict[str, list[psutil.Process]],
) -> dict[str, Any]:
    made = await client.post(
        "/evaluators", json={"name": "bench-reevaluation", "assertions": ASSERTIONS}
    )
    made.raise_for_status()
    cpu_before = {
        **{f"evaluator_{i}": cpu_seconds([e]) for i, e in enumerate(evaluators)},
        **{k: cpu_seconds(v) for k, v in infra.items()},
    }
    asked_at = time.perf_counter()
    asked = await client.post(
        f"/runs/{run_id}/evaluations", json={"evaluator_id": made.json()["evaluator_id"]}
    )
    asked.raise_for_status()
    evaluation_id = asked.json()["evaluation_id"]
    queued_at = None
    while True:
        # The whole row as JSON: the evaluator before migration 0010 has no counters (the bench
        # also measures that one, with its sources on PYTHONPATH).
        row = json.loads(
            await connection.fetchval(
                "SELECT to_jsonb(e)::text FROM evaluations e WHERE evaluation_id = $1",
                evaluation_id,
            )
        )
        now = time.perf_counter()
        if queued_at is None and row["status"] != "requested":
            queued_at = now
        if row["status"] == "evaluated":
            break
        await asyncio.sleep(0.02)
    cpu_after = {
        **{f"evaluator_{i}": cpu_seconds([e]) for i, e in enumerate(evaluators)},
        **{k: cpu_seconds(v) for k, v in infra.items()},
    }
    assert queued_at is not None
    summary = json.loads(
        await connection.fetchval(
            "SELECT data::text FROM events WHERE event_type = $1 AND data->>'evaluation_id' = $2",
            "promptworks.evaluation.run_evaluated.v1",
            evaluation_id,
        )
    )
    evaluated = int(summary["evaluated"])
    return {
        "counted": {k: row.get(k) for k in ("queued", "evaluated", "failed")},
        "seconds_to_queued": round(queued_at - asked_at, 2),
        "seconds_to_evaluated": round(now - asked_at, 2),
        "results_per_second": round(evaluated / (now - asked_at)),
        "cpu_seconds": {k: round(cpu_after[k] - cpu_before[k], 2) for k in cpu_after},
        "summary_evaluated": summary["evaluated"],
        "summary_pass_rate": summary.get("pass_rate"),
        "summaries_appended": await connection.fetchval(
            "SELECT count(*) FROM events WHERE event_type = $1 AND data->>'evaluation_id' = $2",
            "promptworks.evaluation.run_evaluated.v1",
            evaluation_id,
        ),
    }


async def main(
    infra: Infra, cases: int, repetitions: int, processes: int, claim_size: int
) -> dict[str, Any]:
    kafka = await isolated_kafka(infra)
    url = await create_database(infra, "evaluator")
    started: list[subprocess.Popen[bytes]] = []
    ports = [free_port() for _ in range(processes)]
    results = cases * repetitions
    try:
        await migrate("evaluator", url)
        events = run_events(cases, repetitions)
        created = events[0]
        assert isinstance(created, RunCreated)
        # The first evaluation: one cheap check (the expected outputs stay for the re-run's).
        events[0] = RunCreated.model_validate(
            {**created.model_dump(mode="json"), "assertions": BASELINE}
        )
        produce_started = time.perf_counter()
        await produce(kafka, events)
        produce_seconds = time.perf_counter() - produce_started
        # The evaluators' commands need the service credential (ADR 0012).
        os.environ["SERVICE_TOKEN"] = SERVICE_TOKEN
        for port in ports:
            started.append(start_evaluator(url, kafka, None, port, claim_size))
        evaluators = [psutil.Process(p.pid) for p in started]
        pids = {f"evaluator-{n}": p.pid for n, p in enumerate(started)}
        connection = await asyncpg.connect(asyncpg_dsn(url))
        try:
            with PeakMemory(pids) as first_peaks:
                first_seconds = await asyncio.wait_for(first_evaluation(connection, results), 1800)
            infra_processes = infrastructure_processes(
                url.rsplit("/", 1)[1], int(kafka.bootstrap_servers.rsplit(":", 1)[1])
            )
            before = [await evaluated_by(port) or 0 for port in ports]
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{ports[0]}", headers=service_headers(), timeout=60
            ) as client:
                with PeakMemory(pids) as again_peaks:
                    report = await asyncio.wait_for(
                        reevaluate(
                            connection, client, str(created.run_id), evaluators, infra_processes
                        ),
                        1800,
                    )
            after = [await evaluated_by(port) or 0 for port in ports]
            left = await connection.fetchval("SELECT count(*) FROM evaluation_queue")
            dead = await connection.fetchval("SELECT count(*) FROM dead_letters")
        finally:
            await connection.close()
        evaluator_cpu = sum(v for k, v in report["cpu_seconds"].items() if k.startswith("eval"))
        return {
            "nproc": os.cpu_count(),
            "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
            "results": results,
            "processes": processes,
            "claim_size": claim_size,
            "produce_seconds": round(produce_seconds, 2),
            "first_evaluation": {
                "assertions": [a["type"] for a in BASELINE],
                "seconds": round(first_seconds, 2),
                "peak_rss_mib": peaks_mib(first_peaks),
            },
            "reevaluation": {
                "assertions": [a["type"] for a in ASSERTIONS],
                **report,
                "evaluated_by_process": [a - b for a, b in zip(after, before, strict=True)],
                "peak_rss_mib": peaks_mib(again_peaks),
                "results_per_evaluator_cpu_second": round(
                    report["summary_evaluated"] / evaluator_cpu
                ),
            },
            "queue_left": left,
            "dead_letters": dead,
        }
    finally:
        for process in started:
            process.terminate()
        for process in started:
            process.wait(timeout=60)
        await drop_database(infra, url)
        await delete_topics(kafka)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--repetitions", type=int, default=10)
    parser.add_argument("--processes", type=int, default=2, help="evaluator replicas")
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
                arguments.processes,
                arguments.claim_size,
            )
        )
    print(json.dumps(report, indent=2))
