"""The worker's overlapped claims (``EvaluationWorker.run``: a claim is taken and checked while
the previous claim's writes commit) on real PostgreSQL: the same events, statistics, outcomes
and summary as the same results evaluated one claim at a time (``drain``), with two claims in
flight at once; and a claim that fails while the next one is in flight loses and doubles
nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from evaluator.adapters.postgres import PostgresEvaluationRepository
from evaluator.domain.run_statistics import ResultOutcome
from evaluator.domain.stats import RunStats
from evaluator.handlers.evaluation import EvaluationHandlers, PlanCache
from evaluator.handlers.ports import RunState
from evaluator.handlers.worker import EvaluationWorker
from promptworks_contracts.events import DomainEvent, RunCompleted
from promptworks_eventkit.db import create_engine, create_sessionmaker
from promptworks_eventkit.eventstore import EventStore
from promptworks_eventkit.messages import MessageContext
from promptworks_eventkit.settings import KafkaSettings
from promptworks_eventkit.writing.port import Transaction
from promptworks_eventkit.writing.postgres import PostgresWritePort
from services.evaluator.tests.harness import WORDS, RunStream, result, run_created

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

RESULTS = 400
CLAIM = 25  # 16 claims a run: many overlaps
ASSERTIONS: list[dict[str, Any]] = [
    {"type": "contains", "value": "river"},
    {"type": "regex", "pattern": "^the"},
    {"type": "bleu", "threshold": 0.2},
    {"type": "rouge-l", "threshold": 0.4},
]


def run_of(seed: int) -> tuple[RunStream, list[DomainEvent]]:
    """The same run (cases, expected outputs, outputs) for every ``seed``, new ids."""
    rng, stream = random.Random(seed), RunStream()

    def sentence() -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30))) + "."

    cases = 40
    created = run_created(
        stream, cases=[{"n": n} for n in range(cases)], assertions=ASSERTIONS, total_calls=RESULTS
    ).model_copy(update={"expected": [sentence() for _ in range(cases)]})
    results = [
        result(stream, n % cases, sentence(), latency=float(n)).model_copy(
            update={"repetition": n // cases + 1}
        )
        for n in range(RESULTS)
    ]
    done = RunCompleted(run_id=stream.run_id, status="completed", succeeded=RESULTS, failed=0)
    return stream, [created, *results, done]


@dataclass
class Watched:
    """The write port, counting the transactions open at once (the claims in flight), and
    failing the statistics' write of the ``fail_at``-th claim once (a fault while the next
    claim is in flight)."""

    port: PostgresWritePort[PostgresEvaluationRepository]
    fail_at: int | None = None
    open: int = 0
    most_open: int = 0
    writes: int = 0
    failed: list[int] = field(default_factory=list)
    """The transactions open when the fault was injected."""

    @asynccontextmanager
    async def transaction(
        self, context: MessageContext | None = None
    ) -> AsyncIterator[Transaction[PostgresEvaluationRepository]]:
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            async with self.port.transaction(context) as tx:
                yield tx
        finally:
            self.open -= 1

    def repos(self, session: AsyncSession, context: MessageContext) -> Any:
        repository = PostgresEvaluationRepository(session, context)
        save_evaluated = repository.save_evaluated

        async def failing_once(
            states: Iterable[RunState],
            deltas: Mapping[str, RunStats],
            outcomes: Sequence[ResultOutcome],
        ) -> None:
            self.writes += 1
            if self.writes == self.fail_at:
                self.failed.append(self.open)
                raise RuntimeError("injected: the claim's statistics were not written")
            await save_evaluated(states, deltas, outcomes)

        repository.save_evaluated = failing_once  # type: ignore[method-assign]
        return repository


@pytest.fixture
async def watched(database: Any) -> AsyncIterator[Watched]:
    engine = create_engine(await database("evaluator"), pool_size=4)
    try:
        watched = Watched(port=None)  # type: ignore[arg-type]
        store = EventStore("/evaluator", KafkaSettings())
        watched.port = PostgresWritePort(create_sessionmaker(engine), store, watched.repos)
        yield watched
    finally:
        await engine.dispose()


async def queue(watched: Watched, plans: PlanCache, seed: int) -> RunStream:
    """The run's events through the runs consumer's handlers, in one batch: it is stored, its
    results queued, its end waits for the workers."""
    stream, events = run_of(seed)
    received = [stream.receive(event, offset=n) for n, event in enumerate(events)]
    async with watched.port.transaction() as tx:
        await EvaluationHandlers(plans).router()(tx, received)
    return stream


async def run_until_evaluated(worker: EvaluationWorker, watched: Watched, run_id: str) -> None:
    task = asyncio.create_task(worker.run(poll_seconds=0.05))
    try:
        async with asyncio.timeout(60):
            status = "SELECT status FROM runs WHERE run_id = :r"
            while await scalar(watched, status, run_id) == "running":
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def scalar(watched: Watched, query: str, run_id: str) -> Any:
    async with watched.port.transaction() as tx:
        session = tx.session
        return (await session.execute(text(query), {"r": run_id})).scalar_one()


async def evaluation_of(watched: Watched, stream: RunStream) -> dict[str, Any]:
    """What the run's evaluation stored, its run's and results' ids left out: its result events
    (in any order: they follow the claims), its summary, statistics and outcomes; its stream's
    versions contiguous and nothing left queued."""
    run_id = str(stream.run_id)
    async with watched.port.transaction() as tx:
        session = tx.session
        rows = (
            await session.execute(
                text(
                    "SELECT version, data::text FROM events WHERE stream_id = :r ORDER BY version"
                ),
                {"r": run_id},
            )
        ).all()
        stats = (
            await session.execute(
                text(
                    "SELECT name, count, sum, sum_squares, min, max, passed, failed"
                    " FROM run_metric_stats WHERE run_id = :r ORDER BY name"
                ),
                {"r": run_id},
            )
        ).all()
        outcomes = (
            await session.execute(
                text(
                    "SELECT case_index, repetition, passed, latency_ms, digest"
                    " FROM result_outcomes WHERE run_id = :r ORDER BY case_index, repetition"
                ),
                {"r": run_id},
            )
        ).all()
        left = await session.execute(text("SELECT count(*) FROM evaluation_queue"))
        assert left.scalar_one() == 0
    assert [version for version, _ in rows] == list(range(1, len(rows) + 1))  # contiguous
    events = [json.loads(data) for _, data in rows]
    for event in events:
        event.pop("run_id")
        event.pop("result_id", None)
    *evaluated, summary = events
    return {
        "evaluated": sorted(evaluated, key=lambda e: json.dumps(e, sort_keys=True)),
        "summary": summary,
        "stats": [tuple(row) for row in stats],
        "outcomes": [tuple(row) for row in outcomes],
    }


async def test_overlapped_claims_store_what_claims_one_at_a_time_store(watched: Watched) -> None:
    plans = PlanCache()
    alone = await queue(watched, plans, seed=7)
    assert await EvaluationWorker(watched, plans, claim_size=CLAIM).drain() == RESULTS
    assert watched.most_open == 1

    overlapped = await queue(watched, plans, seed=7)
    worker = EvaluationWorker(watched, plans, claim_size=CLAIM)
    await run_until_evaluated(worker, watched, str(overlapped.run_id))
    assert watched.most_open == 2, "one claim ahead, never more"

    expected, found = await evaluation_of(watched, alone), await evaluation_of(watched, overlapped)
    assert len(found["evaluated"]) == RESULTS and found["summary"]["evaluated"] == RESULTS
    assert found == expected


async def test_a_claim_failing_while_the_next_is_in_flight_loses_and_doubles_nothing(
    watched: Watched,
) -> None:
    plans = PlanCache()
    alone = await queue(watched, plans, seed=11)
    await EvaluationWorker(watched, plans, claim_size=CLAIM).drain()

    watched.fail_at, watched.writes, watched.most_open = 3, 0, 0
    overlapped = await queue(watched, plans, seed=11)
    worker = EvaluationWorker(watched, plans, claim_size=CLAIM)
    await run_until_evaluated(worker, watched, str(overlapped.run_id))
    assert watched.failed == [2], "failed while the next claim was in flight"
    # The failed claim's results were taken again, one at a time, once each.
    assert watched.writes == 16 + CLAIM

    # Per result the same; the sums were added in other groups (the failed claim's one by one).
    found, expected = await evaluation_of(watched, overlapped), await evaluation_of(watched, alone)
    assert found["evaluated"] == expected["evaluated"]
    assert found["outcomes"] == expected["outcomes"]
    assert rounded(found["stats"]) == rounded(expected["stats"])
    assert rounded(found["summary"]) == rounded(expected["summary"])


def rounded(value: Any) -> Any:
    """Floats to 12 significant digits, in any nesting: sums added in another order."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [rounded(item) for item in value]
    return value
