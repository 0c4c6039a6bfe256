"""Benchmark: comparing two 10,000-result runs (issue 9: answered in under a second).

1. Produces two runs to Kafka as real CloudEvents: ``RunCreated`` (1,000 cases, 10
   repetitions), 10,000 ``ResultRecorded`` and 10,000 ``ResultEvaluated`` each (a verdict and
   seven metrics with values: latency, tokens, BLEU, ROUGE-L, a judge's score and two of its
   dimensions; the candidate fails 10 % of the pairs the baseline passed).
2. Starts query-api as its own process on a freshly migrated database; its projection
   consumes the backlog.
3. Times ``GET /api/v1/test_prompt/{candidate}/compare?baseline={baseline}`` over real HTTP,
   one request at a time after 2 warm-up requests, and prints p50/max in ms with the answer's
   verdict.

    uv run python -m bench.compare_runs [--cases 1000] [--repetitions 10] [--requests 10]

Uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL_BASE when set, else starts the test stack. The
database and the topics are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
import uuid
from typing import Any

import asyncpg
import httpx

from bench.prompt_list import start_query_api, stored_key_headers, wait_serving
from promptworks_contracts.events import DomainEvent, ResultEvaluated, ResultRecorded, RunCreated
from promptworks_contracts.values import MetricValue, ModelParameters, ModelRef, TextTemplate
from promptworks_eventkit.db import asyncpg_dsn
from tests.support.fake_openai import free_port
from tests.support.infra import (
    create_database,
    delete_topics,
    drop_database,
    isolated_kafka,
    migrate,
    start_infra,
)
from tests.support.kafka import envelope_for, produce

METRICS = (
    "latency_ms",
    "total_tokens",
    "bleu_0",
    "rouge_l_1",
    "judge",
    "judge.准确性",
    "judge.清晰度",
)


def run_events(cases: int, repetitions: int, draw: random.Random, fail: float) -> list[DomainEvent]:
    created = RunCreated(
        run_id=uuid.uuid4(),
        prompt_id=uuid.uuid4(),
        prompt_version_id=uuid.uuid4(),
        prompt_version_number=1,
        template=TextTemplate(text="Summarise {{ text }}"),
        model=ModelRef(provider="mock", name="echo"),
        parameters=ModelParameters(),
        repetitions=repetitions,
        cases=[{"text": f"t{i}"} for i in range(cases)],
        total_calls=cases * repetitions,
    )
    events: list[DomainEvent] = [created]
    for case in range(cases):
        for repetition in range(1, repetitions + 1):
            result_id = uuid.uuid4()
            latency = draw.uniform(100, 900)
            events.append(
                ResultRecorded(
                    run_id=created.run_id,
                    result_id=result_id,
                    case_index=case,
                    repetition=repetition,
                    output="a summary",
                    latency_ms=latency,
                )
            )
            values = [latency, draw.randint(50, 400), *(draw.random() for _ in range(2))]
            values += [draw.uniform(0, 100) for _ in range(3)]
            passed = draw.random() >= fail
            events.append(
                ResultEvaluated(
                    run_id=created.run_id,
                    result_id=result_id,
                    metrics=[
                        MetricValue(name=name, value=float(value))
                        for name, value in zip(METRICS, values, strict=True)
                    ],
                    passed=passed,
                    score=1.0 if passed else 0.0,
                )
            )
    return events


async def wait_projected(database_url: str, results: int) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        while True:
            verdicts = await connection.fetchval("SELECT count(*) FROM result_verdicts")
            recorded = await connection.fetchval("SELECT count(*) FROM results")
            if verdicts >= results and recorded >= results:
                await connection.execute("VACUUM (ANALYZE) results, metrics, result_verdicts")
                return
            await asyncio.sleep(0.5)
    finally:
        await connection.close()


async def main(cases: int, repetitions: int, requests: int) -> dict[str, Any]:
    infra = start_infra()
    kafka = await isolated_kafka(infra)
    url = await create_database(infra, "query_api_compare_bench")
    process = None
    draw = random.Random(9)
    try:
        await migrate("query-api", url)
        baseline = run_events(cases, repetitions, draw, fail=0.05)
        candidate = run_events(cases, repetitions, draw, fail=0.15)
        records = []
        for events in (baseline, candidate):
            versions: dict[tuple[str, str], int] = {}
            for event in events:
                key = (event.topic, event.stream_id())
                versions[key] = versions.get(key, 0) + 1
                records.append((event, envelope_for(event, versions[key])))
        await produce(kafka, records)
        port = free_port()
        process = start_query_api(url, kafka, port)
        await wait_projected(url, 2 * cases * repetitions)
        path = f"/api/v1/test_prompt/{candidate[0].stream_id()}/compare"
        params = {"baseline": baseline[0].stream_id()}
        samples = []
        body: dict[str, Any] = {}
        base = f"http://127.0.0.1:{port}"
        await wait_serving(base)
        # A key stored in query-api's database, as a real client sends (``bench.prompt_list``).
        headers = await stored_key_headers(base)
        async with httpx.AsyncClient(base_url=base, timeout=60, headers=headers) as client:
            for i in range(-2, requests):
                started = time.perf_counter()
                response = await client.get(path, params=params)
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status_code == 200, response.text[:300]
                body = response.json()
                if i >= 0:
                    samples.append(elapsed)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
        await drop_database(infra, url)
        await delete_topics(kafka)
    return {
        "results_per_run": cases * repetitions,
        "metrics_per_result": len(METRICS),
        "requests": requests,
        "p50_ms": round(statistics.median(samples), 1),
        "max_ms": round(max(samples), 1),
        "pairs": body["pairs"],
        "verdict": body["verdict"],
        "pass_rate": body["pass_rate"],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--repetitions", type=int, default=10)
    parser.add_argument("--requests", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.cases, args.repetitions, args.requests)), indent=2))
