"""Evaluation spread over evaluator replicas (ADR 0022), on real processes: two evaluator
processes on one database and one consumer group evaluate one run together (each takes a
share; the summary appears once, with the right counts), then re-evaluate it together (each
takes a share; one summary; the first evaluation kept), and one of them killed with SIGKILL in
the middle of a second re-evaluation and of another run's recording still leaves every result
evaluated once per evaluation and one summary each."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from promptworks_contracts.events import (
    DomainEvent,
    EvaluationRequested,
    ResultEvaluated,
    RunCompleted,
    RunEvaluated,
)
from promptworks_contracts.topics import RUN_EVENTS
from promptworks_eventkit.settings import KafkaSettings
from services.evaluator.tests.harness import WORDS, RunStream, result, run_created
from tests.support.credentials import service_headers
from tests.support.service_process import service_process

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

RESULTS = 1500
# Small claims, a short poll: the replicas alternate many times within one run.
ENV = {"EVALUATION_CLAIM_SIZE": "15", "EVALUATION_POLL_SECONDS": "0.05"}


# The re-evaluations' two versions: other checks than the run's, so other verdicts.
AGAIN: list[list[dict[str, Any]]] = [
    [{"type": "contains", "value": "city"}, {"type": "rouge-l", "threshold": 0.3}],
    [{"type": "icontains", "value": "MOUNTAIN"}, {"type": "bleu", "threshold": 0.1}],
]


def text_of(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 40))) + "."


def big_run(seed: int) -> tuple[RunStream, list[DomainEvent]]:
    """A run of ``RESULTS`` results with text checks, BLEU and ROUGE-L (some CPU per result)."""
    rng, stream = random.Random(seed), RunStream()
    cases = 50
    created = run_created(
        stream,
        cases=[{"city": "Oslo"} for _ in range(cases)],
        assertions=[
            {"type": "contains", "value": "river"},
            {"type": "bleu", "threshold": 0.2},
            {"type": "rouge-l", "threshold": 0.4},
        ],
        total_calls=RESULTS,
    ).model_copy(update={"expected": [text_of(rng) for _ in range(cases)]})
    results = [result(stream, i % cases, text_of(rng)) for i in range(RESULTS)]
    done = RunCompleted(run_id=stream.run_id, status="completed", succeeded=RESULTS, failed=0)
    return stream, [created, *results, done]


@pytest.fixture
async def two_evaluators(
    database: Any, kafka: KafkaSettings, tmp_path: Path
) -> AsyncIterator[tuple[AsyncEngine, AIOKafkaProducer, list[tuple[str, Path]]]]:
    url: str = await database("evaluator")
    engine = create_async_engine(url)
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, linger_ms=5)
    await producer.start()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    try:
        async with contextlib.AsyncExitStack() as started:
            # Both start at once: process start-up is most of this test's time.
            a, b = await asyncio.gather(
                *(
                    started.enter_async_context(
                        service_process("evaluator", url, kafka, tmp_path / name, env=ENV)
                    )
                    for name in ("a", "b")
                )
            )
            yield engine, producer, [(a, tmp_path / "a"), (b, tmp_path / "b")]
    finally:
        await producer.stop()
        await engine.dispose()


async def test_two_processes_share_a_run_and_its_reevaluations_one_killed_loses_nothing(
    two_evaluators: tuple[AsyncEngine, AIOKafkaProducer, list[tuple[str, Path]]],
    kafka: KafkaSettings,
) -> None:
    engine, producer, processes = two_evaluators

    # 1. Both take a share of one run; the summary appears once.
    stream, events = big_run(1)
    await produce(producer, kafka, stream, events)
    async with asyncio.timeout(180):
        await wait_for_summary(engine, stream)
    shares = [await evaluated_by(url) for url, _ in processes]
    assert all(share > 0 for share in shares), shares
    assert sum(shares) == RESULTS, shares
    await check_evaluated_once(engine, stream)

    # 2. The run re-evaluated with an evaluator (ADR 0022, addendum): its kept results are
    # queued and both processes take a share; one summary; the first evaluation is kept.
    first_run = stream
    service = processes[1][0]
    async with httpx.AsyncClient(base_url=service, headers=service_headers()) as client:
        made = await client.post("/evaluators", json={"name": "rivers", "assertions": AGAIN[0]})
        assert made.status_code == 201, made.text
        evaluator_id = made.json()["evaluator_id"]
        again = await client.post(
            f"/evaluators/{evaluator_id}/versions", json={"assertions": AGAIN[1]}
        )
        assert again.status_code == 201, again.text
        before = [await evaluated_by(url) for url, _ in processes]
        asked = await client.post(
            f"/runs/{first_run.run_id}/evaluations",
            json={"evaluator_id": evaluator_id, "version": 1},
        )
        assert asked.status_code == 202, asked.text
        first_again = asked.json()["evaluation_id"]
        async with asyncio.timeout(120):
            await wait_for_evaluation(engine, first_again)
        shares = [
            await evaluated_by(url) - b for (url, _), b in zip(processes, before, strict=True)
        ]
        assert all(share > 0 for share in shares) and sum(shares) == RESULTS, shares
        await check_evaluated_once(engine, first_run, [first_again])

        # 3. Another run, and the first re-evaluated with version 2; while that re-evaluation
        # is half done (and the new run still being recorded), one process is killed with
        # SIGKILL: every result of both evaluated once, one summary each.
        stream, events = big_run(2)
        asked = await client.post(
            f"/runs/{first_run.run_id}/evaluations",
            json={"evaluator_id": evaluator_id, "version": 2},
        )
        assert asked.status_code == 202, asked.text
        second_again = asked.json()["evaluation_id"]
    await produce(producer, kafka, stream, events)
    async with asyncio.timeout(120):
        while True:
            row = await one(
                engine,
                "SELECT queued, evaluated FROM evaluations WHERE evaluation_id = :e",
                e=second_again,
            )
            if row is not None and row[0] == RESULTS and row[1] > 0:
                break
            await asyncio.sleep(0.01)
    victim = int((processes[0][1] / "evaluator.pid").read_text())
    os.killpg(victim, signal.SIGKILL)
    assert row[1] < RESULTS, "the re-evaluation was over before the kill"
    async with asyncio.timeout(180):
        await wait_for_summary(engine, stream)
        await wait_for_evaluation(engine, second_again)
    await check_evaluated_once(engine, stream)
    await check_evaluated_once(engine, first_run, [first_again, second_again])
    assert await one(engine, "SELECT count(*) FROM evaluation_queue") == (0,)


async def produce(
    producer: AIOKafkaProducer, kafka: KafkaSettings, stream: RunStream, events: list[DomainEvent]
) -> None:
    sends = []
    for event in events:
        record = stream.record(event)
        sends.append(
            await producer.send(
                kafka.topic(RUN_EVENTS), key=record.key, value=record.value, headers=record.headers
            )
        )
    await asyncio.gather(*sends)


async def wait_for_evaluation(engine: AsyncEngine, evaluation_id: str) -> None:
    status = "SELECT status FROM evaluations WHERE evaluation_id = :e"
    while await one(engine, status, e=evaluation_id) != ("evaluated",):
        await asyncio.sleep(0.1)


async def wait_for_summary(engine: AsyncEngine, stream: RunStream) -> None:
    while not await one(
        engine,
        "SELECT 1 FROM events WHERE stream_id = :r AND event_type = :t",
        r=str(stream.run_id),
        t=RunEvaluated.event_type,
    ):
        await asyncio.sleep(0.1)


async def check_evaluated_once(
    engine: AsyncEngine, stream: RunStream, reevaluations: Sequence[str] = ()
) -> None:
    """Every result evaluated once, one summary after them with the right counts, in the
    run's first evaluation and in each of its ``reevaluations`` (each after its request, in
    the order asked); the run's evaluation stream contiguous."""
    run_id = str(stream.run_id)
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT version, event_type, data FROM events WHERE stream_id = :r "
                    "ORDER BY version"
                ),
                {"r": run_id},
            )
        ).all()
    per_evaluation = RESULTS + 2  # its request, its results, its summary
    assert [v for v, _, _ in rows] == list(
        range(1, RESULTS + 2 + per_evaluation * len(reevaluations))
    )
    evaluations = [(None, rows[: RESULTS + 1])]
    for n, evaluation_id in enumerate(reevaluations):
        start = RESULTS + 1 + n * per_evaluation
        requested = rows[start]
        assert requested[1] == EvaluationRequested.event_type
        assert requested[2]["evaluation_id"] == evaluation_id
        evaluations.append((evaluation_id, rows[start + 1 : start + per_evaluation]))
    for evaluation_id, of_it in evaluations:
        kinds = [kind for _, kind, _ in of_it]
        assert kinds == [ResultEvaluated.event_type] * RESULTS + [RunEvaluated.event_type]
        assert {data.get("evaluation_id") for _, _, data in of_it} == {evaluation_id}
        assert len({data["result_id"] for _, _, data in of_it[:-1]}) == RESULTS
        summary = RunEvaluated.model_validate(of_it[-1][2])
        assert summary.evaluated == RESULTS
        assert {s.name: s.count for s in summary.summaries}["latency_ms"] == RESULTS
        assert summary.latency is not None and summary.latency.count == RESULTS
    for evaluation_id in reevaluations:
        counted = await one(
            engine,
            "SELECT status, queued, evaluated, failed FROM evaluations WHERE evaluation_id = :e",
            e=evaluation_id,
        )
        assert counted == ("evaluated", RESULTS, RESULTS, 0)
    state = await one(
        engine,
        "SELECT status, r.recorded, evaluated, ending"
        " FROM runs JOIN recorded_results r USING (run_id) WHERE run_id = :r",
        r=run_id,
    )
    assert state == ("completed", RESULTS, RESULTS, None)


async def evaluated_by(url: str) -> int:
    """The results this process's workers evaluated (its Prometheus counter)."""
    async with httpx.AsyncClient(base_url=url, headers=service_headers()) as client:
        body = (await client.get("/metrics")).text
    found = re.search(r"^promptworks_evaluator_results_evaluated_total (\S+)$", body, re.M)
    assert found is not None, body[:2000]
    return int(float(found.group(1)))


async def one(engine: AsyncEngine, sql: str, **params: Any) -> tuple[Any, ...] | None:
    async with engine.connect() as connection:
        row = (await connection.execute(text(sql), params)).first()
    return None if row is None else tuple(row)
