"""Re-evaluation on the real evaluator (PostgreSQL, Kafka): a finished run's kept results
evaluated again with an evaluator version, without a model call; the first evaluation kept;
asking again (or a worker restart) never evaluates twice; unknown or unfinished runs refused."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from promptworks_contracts.events import (
    EvaluationRequested,
    ResultEvaluated,
    ResultRecorded,
    RunEvaluated,
)
from promptworks_contracts.topics import EVALUATION_EVENTS
from services.evaluator.tests.harness import Harness, sample_run

pytestmark = pytest.mark.integration

# Passes the two outputs that are JSON with a string city (only the first) and the error-free.
CITY_IS_TEXT = [
    {"type": "json_field", "path": "/city", "op": "eq", "value": "Paris", "name": "paris"},
]


def count_of(n: int) -> Any:
    return lambda got: len(got) >= n


async def test_a_finished_run_is_evaluated_again_once(evaluator: Harness) -> None:
    sample = sample_run()
    run_id = sample.stream.run_id
    records = [sample.stream.record(e) for e in sample.events]
    # Not yet known: 404; known but unfinished: 409.
    definition = await evaluator.client.post(
        "/evaluators", json={"name": "paris", "assertions": CITY_IS_TEXT}
    )
    evaluator_id = definition.json()["evaluator_id"]
    url = f"/runs/{run_id}/evaluations"
    unknown = await evaluator.client.post(url, json={"evaluator_id": evaluator_id})
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "run_id"
    await evaluator.produce(records[:-1])
    await evaluator.wait_for_offsets(len(records) - 1)
    early = await evaluator.client.post(url, json={"evaluator_id": evaluator_id})
    assert early.status_code == 409 and early.json()["errors"][0]["type"] == "run_unfinished"
    await evaluator.produce(records[-1:])
    async with asyncio.timeout(60):
        first = await evaluator.read(EVALUATION_EVENTS, count_of(7))  # 2 definition + 5

    asked = await evaluator.client.post(url, json={"evaluator_id": evaluator_id})
    assert asked.status_code == 202, asked.text
    evaluation_id = asked.json()["evaluation_id"]
    assert asked.json()["evaluator"] == {"evaluator_id": evaluator_id, "version": 1}
    again = await evaluator.client.post(url, json={"evaluator_id": evaluator_id, "version": 1})
    assert again.status_code == 200 and again.json()["evaluation_id"] == evaluation_id
    assert again.json()["positions"] == []
    missing = await evaluator.client.post(url, json={"evaluator_id": evaluator_id, "version": 3})
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "version"
    # Beyond PostgreSQL's integer, or below 1: named in a 422, never an overflow in the database.
    for wrong in (2**31, 2**70, 0, -1):
        body = {"evaluator_id": evaluator_id, "version": wrong}
        refused = await evaluator.client.post(url, json=body)
        assert refused.status_code == 422, (wrong, refused.text)
        assert refused.json()["errors"][0]["field"].startswith("version"), refused.text
    pinned = await evaluator.client.get(f"/evaluators/{evaluator_id}/versions/{2**31}")
    assert pinned.status_code == 422, pinned.text

    async with asyncio.timeout(60):
        out = await evaluator.read(EVALUATION_EVENTS, count_of(len(first) + 6))
    of_run = [r for r in out if r.envelope.subject == str(run_id)]
    # The first evaluation (4 results + summary) is kept; the re-evaluation follows it.
    assert [r.envelope.streamversion for r in of_run] == list(range(1, 12))
    requested, *results, summary = [r.event for r in of_run[5:]]
    assert isinstance(requested, EvaluationRequested)
    assert str(requested.evaluation_id) == evaluation_id and requested.evaluator.version == 1
    assert all(isinstance(r, ResultEvaluated) for r in results) and len(results) == 4
    by_result = {r.result_id: r for r in results if isinstance(r, ResultEvaluated)}
    assert {str(r.evaluation_id) for r in by_result.values()} == {evaluation_id}
    # The same outputs, judged by the new rule only: only '{"city": "Paris"}' passes.
    verdicts = [by_result[r.result_id].passed for r in sample.results]
    assert verdicts == [True, False, False, False]
    assert [m.name for m in by_result[sample.results[0].result_id].metrics][-1] == "paris"
    assert isinstance(summary, RunEvaluated) and str(summary.evaluation_id) == evaluation_id
    assert (summary.evaluated, summary.passed) == (4, 1)
    assert summary.pass_rate == 0.25

    # Nothing more happens: the row is done, a later request is the same evaluation.
    await evaluator.wait_for_outbox_drained()
    assert (
        await evaluator.scalar(
            "SELECT status FROM evaluations WHERE evaluation_id = :id", id=evaluation_id
        )
        == "evaluated"
    )
    assert (
        await evaluator.scalar("SELECT count(*) FROM events WHERE stream_id = :id", id=str(run_id))
        == 11
    )
    stranger = await evaluator.client.post(url, json={"evaluator_id": str(uuid.uuid4())})
    assert stranger.status_code == 404
    assert stranger.json()["errors"][0]["field"] == "evaluator_id"

    # Advice is pinned to one evaluation: by default the latest finished (this re-evaluation),
    # the run's first when named by the run's id; an unknown one is refused, nothing kept.
    ask = {"provider": "mock", "model": "judge"}
    advice_url = f"/runs/{run_id}/advice"
    latest = await evaluator.client.post(advice_url, json=ask)
    first_one = await evaluator.client.post(advice_url, json={**ask, "evaluation_id": str(run_id)})
    unknown_one = await evaluator.client.post(
        advice_url, json={**ask, "evaluation_id": str(uuid.uuid4())}
    )
    assert latest.status_code == 202 and first_one.status_code == 202, latest.text
    assert unknown_one.status_code == 422
    assert unknown_one.json()["errors"][0]["field"] == "evaluation_id"
    assert unknown_one.json()["errors"][0]["type"] == "unknown_evaluation"
    for answer, pinned in ((latest, evaluation_id), (first_one, str(run_id))):
        advice_id = answer.json()["advice_id"]
        requested = (
            "SELECT data->>'evaluation_id' FROM events WHERE stream_id = :id AND version = 1"
        )
        assert await evaluator.scalar(requested, id=advice_id) == pinned
        kept = "SELECT evaluation_id FROM advice WHERE advice_id = :id"
        assert await evaluator.scalar(kept, id=advice_id) == pinned
    assert await evaluator.scalar("SELECT count(*) FROM advice") == 2


async def test_a_result_that_keeps_failing_leaves_the_reevaluation_which_is_summarised_once(
    evaluator: Harness,
) -> None:
    """ADR 0022's failures, for a re-evaluation queued over the workers: the claim that fails
    is retried a result at a time, the others are evaluated, the failing one dead-lettered
    after 3 attempts (as a re-evaluation's letter: the run's result, its first evaluation and
    its counters stay as they are), and the re-evaluation is summarised once, over the rest."""
    sample = sample_run()
    run_id = str(sample.stream.run_id)
    await evaluator.produce([sample.stream.record(e) for e in sample.events])
    async with asyncio.timeout(60):
        await evaluator.read(EVALUATION_EVENTS, count_of(5))
    definition = await evaluator.client.post(
        "/evaluators", json={"name": "paris", "assertions": CITY_IS_TEXT}
    )
    evaluator_id = definition.json()["evaluator_id"]
    # One kept result no longer decodes: its evaluation fails every time.
    broken = str(sample.results[1].result_id)
    async with evaluator.engine.begin() as connection:
        await connection.execute(
            text("UPDATE result_records SET record = '{\"broken\": 1}' WHERE result_id = :r"),
            {"r": broken},
        )
    asked = await evaluator.client.post(
        f"/runs/{run_id}/evaluations", json={"evaluator_id": evaluator_id}
    )
    assert asked.status_code == 202, asked.text
    evaluation_id = asked.json()["evaluation_id"]
    counted = "SELECT status, queued, evaluated, failed FROM evaluations WHERE evaluation_id = :e"
    async with asyncio.timeout(60):
        while (await evaluator.rows(counted, e=evaluation_id))[0][0] != "evaluated":
            await asyncio.sleep(0.1)
    assert await evaluator.rows(counted, e=evaluation_id) == [("evaluated", 4, 3, 1)]
    [(consumer, event_type, error, value)] = await evaluator.rows(
        "SELECT consumer, event_type, error, value FROM dead_letters"
    )
    assert (consumer, event_type) == ("evaluator.reevaluation", ResultRecorded.event_type)
    assert f"re-evaluation {evaluation_id} failed 3 times" in error and value == b'{"broken": 1}'
    # The run's own rows are untouched: its results kept, its first evaluation as it was.
    assert await evaluator.rows(
        "SELECT status, r.recorded, evaluated FROM runs JOIN recorded_results r USING (run_id)"
        " WHERE run_id = :r",
        r=run_id,
    ) == [("completed", 4, 4)]
    assert await evaluator.scalar("SELECT count(*) FROM result_records") == 4
    assert await evaluator.scalar("SELECT count(*) FROM evaluation_queue") == 0
    again = await evaluator.rows(
        "SELECT version, event_type, data FROM events WHERE stream_id = :r AND version > 5 "
        "ORDER BY version",
        r=run_id,
    )
    assert [kind for _, kind, _ in again] == [
        EvaluationRequested.event_type,
        *[ResultEvaluated.event_type] * 3,
        RunEvaluated.event_type,
    ]
    assert broken not in {data.get("result_id") for _, _, data in again}
    summary = RunEvaluated.model_validate(again[-1][2])
    assert (str(summary.evaluation_id), summary.evaluated) == (evaluation_id, 3)

    # Its summary is published without the result: the operator's replay is refused, naming
    # why (a 409); the letter stays open with the reason; nothing is queued or counted.
    [letter_id] = [row[0] for row in await evaluator.rows("SELECT id FROM dead_letters")]
    replay = await evaluator.client.post(
        f"/admin/dead-letters/{letter_id}/replay", headers={"X-Actor": "ops"}
    )
    assert replay.status_code == 409, replay.text
    problem = replay.json()["errors"][0]
    assert problem["type"] == "replay_refused" and "new evaluator version" in problem["msg"]
    assert f"re-evaluation {evaluation_id} of run {run_id} is evaluated" in problem["msg"]
    letter = (await evaluator.client.get(f"/admin/dead-letters/{letter_id}")).json()
    assert letter["status"] == "open" and "published once" in letter["replay_error"]
    every = await evaluator.client.post("/admin/dead-letters/replay", headers={"X-Actor": "ops"})
    assert every.json()["replayed"] == [] and every.json()["failed"][0]["id"] == letter_id
    assert await evaluator.rows(counted, e=evaluation_id) == [("evaluated", 4, 3, 1)]
    assert await evaluator.scalar("SELECT count(*) FROM evaluation_queue") == 0


async def test_a_reevaluation_letter_replayed_while_it_is_evaluated_is_queued_again(
    database: Any,
) -> None:
    """The replay of a re-evaluation's dead letter while the re-evaluation is still being
    evaluated (its other results pending): the result is queued for it again (the request's
    context, no attempts) and no longer counted as failed, so its one summary will count it;
    audited as any replay, and applied once. On the evaluator's database without workers, so
    that nothing claims the queue in between (the workers' part is the test above)."""
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from evaluator.adapters.postgres_queue import REEVALUATION_WORKER
    from evaluator.adapters.reevaluation import PostgresReevaluationRepository, ReevaluationLetters
    from evaluator.handlers.ports import QUEUED
    from promptworks_contracts.values import EvaluatorPin
    from promptworks_eventkit.dead_letters import AlreadyReplayedError, DeadLetters
    from promptworks_eventkit.messages import MessageContext

    engine = create_async_engine(await database("evaluator"))
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    run_id, evaluation_id = str(uuid.uuid4()), str(uuid.uuid4())
    first, failing = "result-a", "result-b"
    try:
        async with sessions() as session, session.begin():
            await session.execute(
                text(
                    "INSERT INTO runs (run_id, assertions, cases, total_calls, status, evaluated)"
                    " VALUES (:r, '[]', '[]', 2, 'completed', 2)"
                ),
                {"r": run_id},
            )
            await session.execute(
                text("INSERT INTO recorded_results (run_id, recorded) VALUES (:r, 2)"),
                {"r": run_id},
            )
            await session.execute(
                text("INSERT INTO result_records (run_id, result_id, record) VALUES (:r, :a, '{}')"
                     ", (:r, :b, '{}')"),
                {"r": run_id, "a": first, "b": failing},
            )  # fmt: skip
            repos = PostgresReevaluationRepository(session)
            pin = EvaluatorPin(evaluator_id=uuid.uuid4(), version=1)
            asked = MessageContext(correlation_id="asked", project="acme")
            await repos.claim_evaluation(uuid.UUID(evaluation_id), run_id, pin, [], asked)
            evaluation = (await repos.load_evaluations([evaluation_id]))[evaluation_id]
            evaluation.status = QUEUED
            assert await repos.queue_evaluation(evaluation) == 2
            await repos.save_evaluations([evaluation])
        seq = "SELECT seq FROM evaluation_queue WHERE result_id = :r"
        async with sessions() as session, session.begin():
            failed_seq = (await session.execute(text(seq), {"r": failing})).scalar_one()
            # The workers' failure path: the last of ``dead_after`` attempts.
            repos = PostgresReevaluationRepository(session)
            assert await repos.record_failure(failed_seq, "ValueError('boom')", 1)
        counts = "SELECT status, queued, evaluated, failed FROM evaluations"
        letters = DeadLetters(sessions, {REEVALUATION_WORKER: ReevaluationLetters()})
        [letter], total = await letters.page()
        assert total == 1 and letter.consumer == REEVALUATION_WORKER
        async with sessions() as session:
            assert (await session.execute(text(counts))).all() == [("queued", 2, 0, 1)]

        replayed = await letters.replay(letter.id, "ops")
        assert (replayed.status, replayed.replayed_by, replayed.replay_error) == (
            "replayed",
            "ops",
            None,
        )
        queue = (
            "SELECT result_id, evaluation_id, attempts, correlation_id, project_id"
            " FROM evaluation_queue ORDER BY result_id"
        )
        async with sessions() as session:
            assert (await session.execute(text(counts))).all() == [("queued", 2, 0, 0)]
            assert (await session.execute(text(queue))).all() == [
                (first, evaluation_id, 0, "asked", "acme"),
                (failing, evaluation_id, 0, "asked", "acme"),
            ]
        with pytest.raises(AlreadyReplayedError):
            await letters.replay(letter.id, "ops")
    finally:
        await engine.dispose()
