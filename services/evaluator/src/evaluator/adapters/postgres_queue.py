"""The evaluation queue's part of ``PostgresEvaluationRepository``: results kept and queued by
the runs consumer, claimed by the workers, and those that keep failing sent to the dead letters.
Each call is one statement for the whole batch, on the repository's session."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from evaluator.adapters.tables import (
    evaluation_queue,
    evaluations,
    recorded_results,
    result_records,
)
from evaluator.handlers.evaluation import CONSUMER_NAME
from evaluator.handlers.ports import Origin, Queued, RecentRecords, UnreadableClaim
from promptworks_contracts.envelope import Envelope
from promptworks_contracts.events import ResultRecorded
from promptworks_contracts.topics import RUN_EVENTS
from promptworks_contracts.values import RECORDED
from promptworks_eventkit.dead_letters import encode_headers
from promptworks_eventkit.messages import MessageContext
from promptworks_eventkit.tables import dead_letters

# Takes the oldest queued results no other transaction holds, out of the queue (a rollback puts
# them back): one round trip. Their kept records are read in a second one, and only those of
# results this process's consumer did not queue (``RecentRecords``): most claims read none.
_CLAIM = text(
    """
    DELETE FROM evaluation_queue
    WHERE seq IN (
        SELECT seq FROM evaluation_queue
        ORDER BY seq LIMIT :limit FOR UPDATE SKIP LOCKED
    )
    RETURNING seq, correlation_id, traceparent, project_id, event_id, partition, "offset",
        stream_version, run_id, result_id, evaluation_id
    """
)

_KEPT_RECORDS = text(
    """
    SELECT r.result_id, r.record
    FROM unnest(CAST(:run_ids AS text[]), CAST(:result_ids AS text[])) AS k(run_id, result_id)
    JOIN result_records r USING (run_id, result_id)
    """
)

# A batch's results kept and queued in one statement of arrays (asyncpg encodes them in C; an
# insert of many rows through SQLAlchemy's executemany bound every value in Python): the
# records new to ``result_records`` (a redelivered result is kept once) are queued, in the
# batch's order (``seq`` is the order the workers take them in), and counted per run in
# ``recorded_results``; the queued count per run.
_QUEUE = text(
    """
    WITH given AS (
        SELECT * FROM unnest(
            CAST(:run_ids AS text[]), CAST(:result_ids AS text[]), CAST(:records AS text[]),
            CAST(:correlation_ids AS text[]), CAST(:traceparents AS text[]),
            CAST(:project_ids AS text[]), CAST(:event_ids AS text[]),
            CAST(:partitions AS integer[]), CAST(:offsets AS bigint[]),
            CAST(:stream_versions AS integer[])
        ) WITH ORDINALITY AS g(run_id, result_id, record, correlation_id, traceparent,
            project_id, event_id, partition, "offset", stream_version, n)
    ), kept AS (
        INSERT INTO result_records (run_id, result_id, record)
        SELECT run_id, result_id, record FROM given ORDER BY n
        ON CONFLICT DO NOTHING
        RETURNING run_id, result_id
    ), queued AS (
        INSERT INTO evaluation_queue (run_id, result_id, correlation_id, traceparent,
            project_id, event_id, partition, "offset", stream_version)
        SELECT g.run_id, g.result_id, g.correlation_id, g.traceparent, g.project_id,
            g.event_id, g.partition, g."offset", g.stream_version
        FROM given g JOIN kept USING (run_id, result_id) ORDER BY g.n
        RETURNING run_id
    ), counted AS (
        SELECT run_id, count(*)::integer AS n FROM queued GROUP BY run_id
    ), added AS (
        -- Only the runs consumer adds here (a run's results come from one partition), so
        -- the add never waits on the workers, who lock the run's row in runs, not this one.
        INSERT INTO recorded_results (run_id, recorded)
        SELECT run_id, n FROM counted ORDER BY run_id
        ON CONFLICT (run_id) DO UPDATE SET recorded = recorded_results.recorded + excluded.recorded
    )
    SELECT run_id, n FROM counted
    """
)

REEVALUATION_WORKER = "evaluator.reevaluation"
"""The dead letters of re-evaluations' results (replayed by ``ReevaluationLetters``)."""


def _origin(queued: Queued) -> Origin:
    if queued.origin is None:  # the consumer queues Kafka records: each has its origin
        raise ValueError(f"result {queued.record.result_id} queued without its origin")
    return queued.origin


def _nothing(result_id: str) -> ResultRecorded | None:
    return None


def _found(record: ResultRecorded | None, result_id: str) -> ResultRecorded:
    if record is None:  # queued only with its kept record (``_QUEUE``), removed together
        raise LookupError(f"queued result {result_id} has no kept record")
    return record


class PostgresQueue:
    """The queue's methods of ``EvaluationRepository`` (``PostgresEvaluationRepository``
    holds the session)."""

    _session: AsyncSession

    async def queue_results(self, queued: Sequence[Queued]) -> dict[str, int]:
        if not queued:
            return {}
        records = [q.record for q in queued]
        contexts = [q.context for q in queued]
        origins = [_origin(q) for q in queued]
        rows = await self._session.execute(
            _QUEUE,
            {
                "run_ids": [str(r.run_id) for r in records],
                "result_ids": [str(r.result_id) for r in records],
                # Serialised once, in pydantic-core.
                "records": [r.model_dump_json() for r in records],
                "correlation_ids": [c.correlation_id for c in contexts],
                "traceparents": [c.traceparent for c in contexts],
                "project_ids": [c.project for c in contexts],
                "event_ids": [o.event_id for o in origins],
                "partitions": [o.partition for o in origins],
                "offsets": [o.offset for o in origins],
                "stream_versions": [o.stream_version for o in origins],
            },
        )
        return {run_id: int(count) for run_id, count in rows}

    async def claim_queued(self, limit: int, recent: RecentRecords | None = None) -> list[Queued]:
        rows = sorted(await self._session.execute(_CLAIM, {"limit": limit}))  # by seq
        take = recent.take if recent is not None else _nothing
        records = {row.result_id: take(row.result_id) for row in rows}
        if missing := [row for row in rows if records[row.result_id] is None]:
            kept = await self._session.execute(
                _KEPT_RECORDS,
                {
                    "run_ids": [row.run_id for row in missing],
                    "result_ids": [row.result_id for row in missing],
                },
            )
            try:
                for result_id, record in kept:
                    records[result_id] = ResultRecorded.model_validate_json(
                        record, context=RECORDED
                    )
            except ValueError as error:  # pydantic's ValidationError is one
                raise UnreadableClaim([row.seq for row in rows], error) from error
        return [
            Queued(
                _found(records[result_id], result_id),
                MessageContext(
                    correlation_id=correlation, traceparent=traceparent, project=project
                ),
                None if event_id is None else Origin(event_id, partition, offset, stream_version),
                seq,
                evaluation_id,
            )
            for (
                seq,
                correlation,
                traceparent,
                project,
                event_id,
                partition,
                offset,
                stream_version,
                _,
                result_id,
                evaluation_id,
            ) in rows
        ]

    async def record_failure(self, seq: int, error: str, dead_after: int) -> bool:
        q = evaluation_queue.c
        row = (
            await self._session.execute(
                update(evaluation_queue)
                .where(q.seq == seq)
                .values(attempts=q.attempts + 1)
                .returning(
                    q.run_id,
                    q.result_id,
                    q.correlation_id,
                    q.traceparent,
                    q.project_id,
                    q.event_id,
                    q.partition,
                    q.offset,
                    q.stream_version,
                    q.attempts,
                    q.evaluation_id,
                )
            )
        ).first()
        if row is None or row.attempts < dead_after:
            return False
        kept = (result_records.c.run_id == row.run_id) & (
            result_records.c.result_id == row.result_id
        )
        record = (
            await self._session.execute(select(result_records.c.record).where(kept))
        ).scalar_one()
        if row.evaluation_id is not None:
            await self._reevaluation_failed(seq, row, record, error)
            return True
        # The runs consumer's dead letter, as if its handler had failed on the event: an
        # operator's replay applies it through the consumer again (queued and counted anew).
        envelope = Envelope(
            id=UUID(row.event_id),
            type=ResultRecorded.event_type,
            source="/run-orchestrator",
            subject=row.run_id,
            time=datetime.now(UTC),
            correlationid=row.correlation_id,
            streamversion=row.stream_version,
            traceparent=row.traceparent,
            project=row.project_id,
        )
        await self._session.execute(
            dead_letters.insert().values(
                consumer=CONSUMER_NAME,
                topic=RUN_EVENTS,
                partition=row.partition,
                offset=row.offset,
                event_id=row.event_id,
                event_type=ResultRecorded.event_type,
                error=f"evaluation failed {row.attempts} times: {error}"[:4000],
                key=row.run_id.encode(),
                value=record.encode(),
                headers=encode_headers(envelope.to_kafka_headers()),
            )
        )
        await self._session.execute(delete(evaluation_queue).where(q.seq == seq))
        await self._session.execute(delete(result_records).where(kept))
        # Taken from the count like a result never queued (a replay counts it again). Rare, so
        # the consumer's wait on this row, until this transaction commits, does not matter. An
        # upsert: a run counted in ``runs.recorded`` alone (a release before 0012) has no row.
        taken = pg_insert(recorded_results).values(run_id=row.run_id, recorded=-1)
        await self._session.execute(
            taken.on_conflict_do_update(
                index_elements=[recorded_results.c.run_id],
                set_={"recorded": recorded_results.c.recorded - 1},
            )
        )
        return True

    async def _reevaluation_failed(self, seq: int, row: Any, record: str, error: str) -> None:
        """A re-evaluation's result that keeps failing leaves it (counted in ``failed``; the
        run's result and its first evaluation stay as they are): a dead letter whose headers
        name the re-evaluation and the result, which a replay queues again while the
        re-evaluation is being evaluated (``adapters.reevaluation.ReevaluationLetters``). The
        last one to leave lets the idle workers' sweep summarise the re-evaluation."""
        await self._session.execute(
            dead_letters.insert().values(
                consumer=REEVALUATION_WORKER,
                topic=RUN_EVENTS,
                partition=-1,  # not from a Kafka record: queued from the kept result
                offset=-1,
                event_id=None,
                event_type=ResultRecorded.event_type,
                error=(f"re-evaluation {row.evaluation_id} failed {row.attempts} times: {error}")[
                    :4000
                ],
                key=row.run_id.encode(),
                value=record.encode(),
                headers=encode_headers(
                    [
                        ("evaluation_id", row.evaluation_id.encode()),
                        ("result_id", row.result_id.encode()),
                    ]
                ),
            )
        )
        await self._session.execute(delete(evaluation_queue).where(evaluation_queue.c.seq == seq))
        await self._session.execute(
            update(evaluations)
            .where(evaluations.c.evaluation_id == row.evaluation_id)
            .values(failed=evaluations.c.failed + 1)
        )
