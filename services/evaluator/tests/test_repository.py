"""One suite for both ``EvaluationRepository`` implementations: what the handlers tests rely on
in memory holds on PostgreSQL (the ``memory`` cases need no infrastructure)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from pydantic import TypeAdapter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from evaluator.adapters.memory import InMemoryEvaluationRepository
from evaluator.adapters.postgres import PostgresEvaluationRepository
from evaluator.domain.run_statistics import ResultOutcome
from evaluator.domain.stats import MetricStats
from evaluator.handlers.ports import (
    RUNNING,
    EvaluationRepository,
    NewRun,
    Origin,
    Queued,
    RecentRecords,
    RunSpec,
    RunState,
)
from promptworks_contracts.events import ResultRecorded
from promptworks_contracts.values import Assertion, Money
from promptworks_eventkit.messages import MessageContext
from tests.support.infra import Infra, create_database, drop_database, migrate

ASSERTIONS = TypeAdapter(list[Assertion]).validate_python(
    [{"type": "contains", "value": "{{ city }}", "name": "mentions_city"}, {"type": "is_json"}]
)


@pytest.fixture(scope="module")
async def sessions(infra: Infra) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """One migrated database for the module's PostgreSQL cases (run ids are unique per test)."""
    url = await create_database(infra, "evaluator")
    engine = create_async_engine(url)
    try:
        await migrate("evaluator", url)
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        await engine.dispose()
        await drop_database(infra, url)


@pytest.fixture
async def postgres(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[EvaluationRepository]:
    async with sessions() as session, session.begin():
        yield PostgresEvaluationRepository(session)


@pytest.fixture(
    params=["memory", pytest.param("postgres", marks=pytest.mark.integration)],
)
def repository(request: pytest.FixtureRequest) -> EvaluationRepository:
    if request.param == "memory":
        return InMemoryEvaluationRepository()
    repository: EvaluationRepository = request.getfixturevalue("postgres")
    return repository


def new_run(total_calls: int = 4, assertions: list[Assertion] | None = None) -> NewRun:
    spec = RunSpec(
        assertions=ASSERTIONS if assertions is None else assertions,
        cases=[{"a": 1}],
        expected=[{"answer": 42}],
    )
    return NewRun(run_id=str(uuid.uuid4()), spec=spec, total_calls=total_calls)


async def test_a_new_run_is_running_with_its_spec_and_unknown_runs_are_left_out(
    repository: EvaluationRepository,
) -> None:
    run = new_run()
    unknown = str(uuid.uuid4())
    await repository.insert_runs([run])
    states = await repository.load_states([run.run_id, unknown])
    assert states == {run.run_id: RunState(run.run_id, 4, 0, 0, RUNNING)}
    assert await repository.load_specs([run.run_id, unknown]) == {run.run_id: run.spec}
    assert await repository.load_stats([run.run_id, unknown]) == {}


async def test_inserting_a_stored_run_keeps_it(repository: EvaluationRepository) -> None:
    run = new_run(total_calls=4)
    again = NewRun(run.run_id, RunSpec(assertions=[], cases=[]), total_calls=9)
    await repository.insert_runs([run, again])
    await repository.insert_runs([again])
    assert (await repository.load_states([run.run_id]))[run.run_id].total_calls == 4
    assert await repository.load_specs([run.run_id]) == {run.run_id: run.spec}


async def test_saved_states_are_stored_and_loaded_ones_are_copies(
    repository: EvaluationRepository,
) -> None:
    run, unknown = new_run(), str(uuid.uuid4())
    await repository.insert_runs([run])
    state = (await repository.load_states([run.run_id]))[run.run_id]
    state.evaluated = 3
    assert (await repository.load_states([run.run_id]))[run.run_id].evaluated == 0

    saved = RunState(run.run_id, 4, evaluated=3, stream_version=4, status="completed")
    await repository.save_states([saved, RunState(unknown, 1, 1, 1, "failed")])
    assert await repository.load_states([run.run_id, unknown]) == {run.run_id: saved}


async def test_statistics_merge_and_min_max_ignore_missing_values(
    repository: EvaluationRepository,
) -> None:
    run = new_run()
    await repository.insert_runs([run])
    no_values = MetricStats(passed=1)
    await repository.save_evaluated(
        (), {run.run_id: {"a": MetricStats(2, 3.0, 1.0, 2.0, 1, 1), "b": no_values}}, ()
    )
    await repository.save_evaluated(
        (), {run.run_id: {"a": MetricStats(passed=2), "b": MetricStats(1, 5.0, 5.0, 5.0, 0, 1)}}, ()
    )
    loaded = await repository.load_stats([run.run_id])
    assert loaded == {
        run.run_id: {
            "a": MetricStats(2, 3.0, 1.0, 2.0, 3, 1),
            "b": MetricStats(1, 5.0, 5.0, 5.0, 1, 1),
        }
    }
    loaded[run.run_id]["a"].count = 99  # a copy: stores nothing
    await repository.save_evaluated(
        (), {run.run_id: {"a": MetricStats(1, 7.0, 0.5, 7.0, 0, 0)}}, ()
    )
    stored = (await repository.load_stats([run.run_id]))[run.run_id]
    assert stored["a"] == MetricStats(3, 10.0, 0.5, 7.0, 3, 1)


async def test_outcomes_are_stored_once_per_result_with_exact_costs(
    repository: EvaluationRepository,
) -> None:
    run, other = new_run(), new_run()
    await repository.insert_runs([run, other])
    assert (await repository.load_specs([run.run_id]))[run.run_id].expected == [{"answer": 42}]
    first = ResultOutcome(
        run.run_id, str(uuid.uuid4()), 0, 1, True, 12.5, "ab12", Money(amount=Decimal("0.000123"))
    )
    second = ResultOutcome(run.run_id, str(uuid.uuid4()), 1, 2, False, 30.0, None, None)
    elsewhere = ResultOutcome(other.run_id, str(uuid.uuid4()), 0, 1, True, 1.0, None, None)
    await repository.save_evaluated((), {}, [first, second, elsewhere])
    await repository.save_evaluated((), {}, [first])  # redelivered: kept once
    loaded = await repository.load_outcomes([run.run_id, str(uuid.uuid4())])
    assert list(loaded) == [run.run_id]
    assert sorted(loaded[run.run_id], key=lambda o: o.case_index) == [first, second]


def results_of(run: NewRun, count: int) -> list[Queued]:
    """``count`` results of the run, as the runs consumer queues them."""
    return [
        Queued(
            ResultRecorded(
                run_id=uuid.UUID(run.run_id),
                result_id=uuid.uuid4(),
                case_index=0,
                repetition=n,
                output=f"answer {n}",
                latency_ms=10.0 + n,
                cost=Money(amount=Decimal("0.0001")),
            ),
            MessageContext(correlation_id="c"),
            Origin(str(uuid.uuid4()), 0, n, n),
        )
        for n in range(1, count + 1)
    ]


async def test_queued_results_are_claimed_once_in_order_and_recent_records_not_decoded_again(
    repository: EvaluationRepository,
) -> None:
    run = new_run()
    await repository.insert_runs([run])
    queued = results_of(run, 4)
    records = [q.record for q in queued]
    assert await repository.queue_results(queued) == {run.run_id: 4}
    assert await repository.queue_results(queued[:1]) == {}  # redelivered: queued once
    assert (await repository.load_states([run.run_id]))[run.run_id].recorded == 4
    recent = RecentRecords()
    recent.add(records[:2])
    claimed = await repository.claim_queued(3, recent)
    assert [q.record for q in claimed] == records[:3]
    assert claimed[0].record is records[0] and len(recent) == 0
    assert [q.origin for q in claimed] == [q.origin for q in queued[:3]]
    assert [q.record for q in await repository.claim_queued(3)] == records[3:]
    assert await repository.claim_queued(3) == []


def test_recent_records_keep_the_newest_within_their_bounds() -> None:
    run_id = uuid.uuid4()
    records = [
        ResultRecorded(
            run_id=run_id,
            result_id=uuid.uuid4(),
            case_index=0,
            repetition=n,
            output="x" * 10,
            latency_ms=1.0,
        )
        for n in range(1, 6)
    ]
    recent = RecentRecords(capacity=3, max_chars=25)
    recent.add(records[:2])
    recent.add(records[:1])  # redelivered: once, now the newest
    assert len(recent) == 2
    recent.add(records[2:])  # 25 characters at most: the two oldest make room
    assert len(recent) == 2
    assert recent.take(str(records[1].result_id)) is None
    assert recent.take(str(records[4].result_id)) is records[4]
    assert recent.take(str(records[4].result_id)) is None


@pytest.mark.integration
async def test_saved_states_and_statistics_are_stored_as_they_always_were(
    postgres: EvaluationRepository,
) -> None:
    """The rows as SQL sees them (the columns' text): an ended run's context as JSON, no
    context as JSON ``null`` (what SQLAlchemy's JSONB stored for None), statistics merged
    with the bounds of the side that has them."""
    assert isinstance(postgres, PostgresEvaluationRepository)
    ended, running = new_run(), new_run()
    await postgres.insert_runs([ended, running])
    context = MessageContext(correlation_id="c-1", causation_id="e-1", project="p")
    await postgres.save_states(
        [
            RunState(ended.run_id, 4, 4, 9, RUNNING, ending="completed", end_context=context),
            RunState(running.run_id, 4, 2, 3, RUNNING),
        ]
    )
    for delta in (
        MetricStats(2, 3.5, 1.25, 2.25, 1, 1, 7.0),
        MetricStats(1, 0.1, None, None, 0, 2, 0.01),
    ):
        await postgres.save_evaluated((), {ended.run_id: {"a": delta}}, ())
    rows = await postgres._session.execute(
        text(
            "SELECT evaluated, stream_version, status, ending, end_context::text,"
            " end_context IS NULL FROM runs WHERE run_id = ANY(:ids) ORDER BY evaluated DESC"
        ),
        {"ids": [ended.run_id, running.run_id]},
    )
    assert [tuple(row) for row in rows] == [
        (
            4,
            9,
            RUNNING,
            "completed",
            '{"project": "p", "traceparent": null, "causation_id": "e-1", "correlation_id": "c-1"}',
            False,
        ),
        (2, 3, RUNNING, None, "null", False),
    ]
    stats = await postgres._session.execute(
        text(
            "SELECT count, sum::text, sum_squares::text, min::text, max::text, passed, failed"
            " FROM run_metric_stats WHERE run_id = :id"
        ),
        {"id": ended.run_id},
    )
    assert [tuple(row) for row in stats] == [(3, "3.6", "7.01", "1.25", "2.25", 1, 3)]


@pytest.mark.integration
async def test_results_are_queued_and_counted_while_a_worker_holds_the_run_row(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The workers hold a run's row locked from their writes to their commit; the runs
    consumer queues and counts the run's results meanwhile without waiting for it (the count
    has a table of its own). The worker that locks the row next reads the count, whole: with
    what a replica of the release before counted in the old column."""
    run = new_run()
    async with sessions() as session, session.begin():
        await PostgresEvaluationRepository(session).insert_runs([run])
        # Two results counted by a replica of the release before 0012, in the old column.
        await session.execute(
            text("UPDATE runs SET recorded = 2 WHERE run_id = :r"), {"r": run.run_id}
        )
    async with sessions() as worker, worker.begin():
        held = await PostgresEvaluationRepository(worker).load_states([run.run_id], lock=True)
        assert held[run.run_id].recorded == 2
        async with asyncio.timeout(10), sessions() as consumer, consumer.begin():
            counts = await PostgresEvaluationRepository(consumer).queue_results(results_of(run, 3))
        assert counts == {run.run_id: 3}
    async with sessions() as session, session.begin():
        states = await PostgresEvaluationRepository(session).load_states([run.run_id], lock=True)
    assert states[run.run_id].recorded == 2 + 3


@pytest.mark.integration
async def test_a_dead_letter_is_taken_from_a_count_the_release_before_kept(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A result that keeps failing leaves its run's count. For a run counted by a release
    before 0012 (in ``runs.recorded`` only) the new table has no row yet: one is made, -1."""
    run = new_run()
    async with sessions() as session, session.begin():
        repository = PostgresEvaluationRepository(session)
        await repository.insert_runs([run])
        await repository.queue_results(results_of(run, 1))
        # Counted as the release before counted it.
        for moved in (
            "DELETE FROM recorded_results WHERE run_id = :r",
            "UPDATE runs SET recorded = 1 WHERE run_id = :r",
        ):
            await session.execute(text(moved), {"r": run.run_id})
        seq = await session.scalar(
            text("SELECT seq FROM evaluation_queue WHERE run_id = :r"), {"r": run.run_id}
        )
    async with sessions() as session, session.begin():
        assert await PostgresEvaluationRepository(session).record_failure(seq, "boom", 1)
    async with sessions() as session, session.begin():
        states = await PostgresEvaluationRepository(session).load_states([run.run_id], lock=True)
    assert states[run.run_id].recorded == 0
