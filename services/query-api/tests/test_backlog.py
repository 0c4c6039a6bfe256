"""A large backlog (10,000 results and their 10,000 evaluations, 3 metrics each) projects
completely and exactly once. The rate is printed (run with ``-s``), not asserted: the
benchmarks under bench/ report performance. The events wait in Kafka as a backlog; the clock
starts when the app starts (so it includes joining the consumer group) and stops when every
row is in the read models: fetching, decoding, deduplicating and writing, on this machine.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from sqlalchemy import func, select

from promptworks_contracts.events import (
    DomainEvent,
    PromptCreated,
    ResultEvaluated,
    ResultRecorded,
    RunCompleted,
    RunStarted,
)
from promptworks_contracts.values import MetricValue, TokenUsage
from query_api.tables import metrics, results, runs

pytestmark = pytest.mark.integration

RUNS = 10
CASES, REPETITIONS = 10, 100  # 1,000 results per run


def load(catalog_class: type) -> tuple[list[DomainEvent], list[DomainEvent]]:
    """(run lifecycle events, the 20,000 result and evaluation events), interleaved per run."""
    lifecycle: list[DomainEvent] = []
    heavy: list[DomainEvent] = []
    prototype = catalog_class.build()
    for _ in range(RUNS):
        run = prototype.done.model_copy(
            update={
                "run_id": uuid.uuid4(),
                "cases": [{"name": f"user{i}"} for i in range(CASES)],
                "repetitions": REPETITIONS,
                "total_calls": CASES * REPETITIONS,
            }
        )
        lifecycle += [run, RunStarted(run_id=run.run_id)]
        for case in range(CASES):
            for repetition in range(1, REPETITIONS + 1):
                result = ResultRecorded(
                    run_id=run.run_id,
                    result_id=uuid.uuid4(),
                    case_index=case,
                    repetition=repetition,
                    output=f"Hello user{case}, nice to meet you!",
                    latency_ms=12.5,
                    usage=TokenUsage(prompt_tokens=12, completion_tokens=9, total_tokens=21),
                    finish_reason="stop",
                )
                heavy.append(result)
                heavy.append(
                    ResultEvaluated(
                        run_id=run.run_id,
                        result_id=result.result_id,
                        metrics=[
                            MetricValue(name="latency_ms", value=12.5),
                            MetricValue(name="contains_0", passed=True),
                            MetricValue(name="output_chars", value=36.0),
                        ],
                    )
                )
        heavy.append(
            RunCompleted(
                run_id=run.run_id, status="completed", succeeded=CASES * REPETITIONS, failed=0
            )
        )
    return lifecycle, heavy


async def projected(api, expected_results: int) -> bool:
    async with api.sessions() as session:
        counts = (
            await session.execute(
                select(
                    select(func.count()).select_from(results).scalar_subquery(),
                    select(func.count()).select_from(metrics).scalar_subquery(),
                    select(func.count())
                    .select_from(runs)
                    .where(runs.c.status == "completed", runs.c.recorded == CASES * REPETITIONS)
                    .scalar_subquery(),
                )
            )
        ).one()
    return tuple(counts) == (expected_results, 3 * expected_results, RUNS)


async def test_a_large_backlog_projects_completely(
    serve, settings, publisher, catalog_class, capfd
) -> None:
    lifecycle, heavy = load(catalog_class)
    warm_up = PromptCreated(prompt_id=uuid.uuid4(), name="warm-up")
    async with serve(settings) as api:
        await publisher.publish([warm_up, *lifecycle])
        await api.applied(warm_up, 1)  # the group exists and the runs are projected
    await publisher.publish(heavy)  # a backlog, as after an outage or for a rebuild

    expected_results = RUNS * CASES * REPETITIONS
    started = time.perf_counter()
    async with serve(settings) as api:
        while not await projected(api, expected_results):
            assert time.perf_counter() - started < 120, "the projection is stuck"
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0.5)  # nothing more may arrive: every row exactly once
        assert await projected(api, expected_results)
    # Every batch went through in bulk the first time (no retry, no one-by-one fallback).
    assert "batch failed" not in capfd.readouterr().out
    rate = len(heavy) / elapsed
    print(
        f"\nprojected a backlog of {len(heavy)} events ({expected_results} ResultRecorded + "
        f"{expected_results} ResultEvaluated x 3 metrics + {RUNS} RunCompleted) in "
        f"{elapsed:.2f} s from start-up = {rate:,.0f} events/s = "
        f"{expected_results / elapsed:,.0f} cases/s"
    )
