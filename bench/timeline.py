"""The stages of one end-to-end run on one clock: when each began and ended, and in how many
transactions (``bench.e2e_run``'s ``timeline``, with ``--durable``).

Read after the run, from what the services left behind, so nothing is added to their work:
- PostgreSQL dates each row by its transaction's commit (``pg_xact_commit_timestamp(xmin)``;
  ``track_commit_timestamp``, which the durable bench turns on in its private server): the
  orchestrator's flushes, the evaluator's consumer batches and claims, query-api's projection
  batches. Only tables whose rows are inserted and never updated are read (an update would
  re-date the row: query-api's ``results`` rows are updated when their evaluation arrives).
- Kafka dates each record when the relay handed it to the producer (``CreateTime``).
Both are the machine's wall clock, so every stage is given in seconds after the run's POST.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer

from promptworks_contracts import events


@dataclass(frozen=True)
class Stage:
    """Seconds after the start when the stage's first and last transaction committed (or its
    first and last record was published), how many transactions (batches), how many rows, and
    how many of them the first one committed (what the next stage could start with)."""

    first_s: float
    last_s: float
    commits: int
    rows: int
    first_rows: int = 0

    def __str__(self) -> str:
        if not self.commits:  # a moment (what a poll saw), not a stage
            return f"{self.first_s:.2f} s"
        span = f"{self.first_s:.2f} -> {self.last_s:.2f} s"
        first = f" (first {self.first_rows})" if self.commits > 1 else ""
        return f"{span}, {self.commits} commits, {self.rows} rows{first}"


def stage(commits: list[tuple[float, int]], started: float) -> Stage | None:
    """The stage of ``commits`` (epoch seconds of a transaction, its rows); None when empty."""
    if not commits:
        return None
    ordered = sorted(commits)
    return Stage(
        first_s=round(ordered[0][0] - started, 3),
        last_s=round(ordered[-1][0] - started, 3),
        commits=len(commits),
        rows=sum(rows for _, rows in commits),
        first_rows=ordered[0][1],
    )


def _of_type(event_type: str) -> tuple[str, str]:
    return "events", f"event_type = '{event_type}'"


# database (the service's) -> stage -> (table, condition): rows inserted once, never updated.
STAGES: dict[str, dict[str, tuple[str, str]]] = {
    "run-orchestrator": {
        "run created (orchestrator)": _of_type(events.RunCreated.event_type),
        "run started (orchestrator)": _of_type(events.RunStarted.event_type),
        "results recorded (orchestrator's flushes)": _of_type(events.ResultRecorded.event_type),
        "run completed (orchestrator)": _of_type(events.RunCompleted.event_type),
    },
    "evaluator": {
        "results queued (evaluator's consumer)": ("result_records", "true"),
        "results evaluated (evaluator's claims)": _of_type(events.ResultEvaluated.event_type),
        "run summarised (evaluator)": _of_type(events.RunEvaluated.event_type),
    },
    "query-api": {
        "verdicts projected (query-api's batches)": ("result_verdicts", "true"),
        "run finished projected (query-api)": ("result_positions", "true"),
        "summary projected (query-api)": ("run_evaluations", "true"),
    },
}

# topic -> stage -> the records' ce_type.
PUBLISHED: dict[str, dict[str, str]] = {
    "promptworks.run": {
        "results published (orchestrator's relay)": events.ResultRecorded.event_type
    },
    "promptworks.evaluation": {
        "evaluations published (evaluator's relay)": events.ResultEvaluated.event_type
    },
}

COMMITS = (
    "SELECT extract(epoch FROM pg_xact_commit_timestamp(xmin))::float8 AS at, count(*) AS rows "
    "FROM {table} WHERE {condition} GROUP BY xmin"
)


Commits = dict[str, list[tuple[float, int]]]


async def committed(dsn: str, stages: dict[str, tuple[str, str]]) -> Commits:
    """Per stage: each of its transactions' commit time (epoch seconds) and rows."""
    connection = await asyncpg.connect(dsn)
    try:
        return {
            name: [
                (row["at"], row["rows"])
                for row in await connection.fetch(COMMITS.format(table=table, condition=where))
            ]
            for name, (table, where) in stages.items()
        }
    finally:
        await connection.close()


async def published(bootstrap_servers: str, topic: str, types: dict[str, str]) -> Commits:
    """Per stage: the publish times (epoch seconds) of the records of its type in ``topic``,
    and how many records each, read from the start to the end offsets of now."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        # Without a group every partition of the topic is assigned once its metadata is known.
        while not consumer.assignment():
            await asyncio.sleep(0.05)
        partitions = sorted(consumer.assignment())
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        by_type: dict[str, list[int]] = {t: [] for t in types.values()}
        left = {tp for tp in partitions if ends[tp] > 0}
        while left:
            for tp, records in (await consumer.getmany(*left, timeout_ms=1000)).items():
                for record in records:
                    headers = dict(record.headers)
                    kind = headers.get("ce_type", b"").decode()
                    if kind in by_type:
                        by_type[kind].append(record.timestamp)
                if await consumer.position(tp) >= ends[tp]:
                    left.discard(tp)
        # Records stamped in the same millisecond count as one send (one relay batch, mostly).
        return {
            name: [(ms / 1000, n) for ms, n in Counter(by_type[kind]).items()]
            for name, kind in types.items()
        }
    finally:
        await consumer.stop()


def ordered(stages: dict[str, Stage | None]) -> dict[str, str]:
    """The stages that happened, by their first commit: ``"first -> last s, N commits, M rows"``."""
    happened = {name: s for name, s in stages.items() if s is not None}
    return {name: str(s) for name, s in sorted(happened.items(), key=lambda i: i[1].first_s)}


BATCH_SERIES = {
    "promptworks_consumer_batch_records_count": "batches",
    "promptworks_consumer_batch_records_sum": "records",
    "promptworks_consumer_batch_duration_seconds_sum": "busy_s",
}
SERIES = re.compile(r'^(\w+)\{consumer="([^"]+)"\} (\S+)$')


def consumer_batches(exposition: str) -> dict[str, dict[str, float]]:
    """Per consumer, from a Prometheus exposition: its batches, their records and the seconds
    its batches' transactions took (the time the consumer was busy)."""
    found: dict[str, dict[str, float]] = {}
    for line in exposition.splitlines():
        match = SERIES.match(line)
        if match and match[1] in BATCH_SERIES:
            found.setdefault(match[2], {})[BATCH_SERIES[match[1]]] = float(match[3])
    return found


def batches_between(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]
) -> dict[str, str]:
    """Per consumer, what its batches did between two ``consumer_batches`` readings."""
    summary: dict[str, str] = {}
    for consumer, now in sorted(after.items()):
        then = before.get(consumer, {})
        done = {key: now.get(key, 0.0) - then.get(key, 0.0) for key in BATCH_SERIES.values()}
        if done["batches"]:
            per = done["records"] / done["batches"]
            summary[consumer] = (
                f"{done['batches']:.0f} batches, {done['records']:.0f} records ({per:.0f} a "
                f"batch), busy {done['busy_s']:.2f} s"
            )
    return summary
