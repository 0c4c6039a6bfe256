"""``bench.timeline``: the stages of an e2e run dated by PostgreSQL's commit timestamps (a
private server with ``track_commit_timestamp`` on) and by Kafka's record timestamps."""

from __future__ import annotations

import time
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from bench import timeline
from promptworks_eventkit.db import asyncpg_dsn
from promptworks_eventkit.settings import KafkaSettings
from tests.support.private_infra import running_private_infra

pytestmark = pytest.mark.integration


async def test_each_transaction_is_one_commit_at_its_commit_time(tmp_path: Path) -> None:
    settings = {"track_commit_timestamp": "on"}
    with running_private_infra(tmp_path, postgres_only=True, pg_settings=settings) as server:
        dsn = asyncpg_dsn(f"{server.database_url_base}/postgres")
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute("CREATE TABLE events (event_type text NOT NULL)")
            before = time.time()
            async with connection.transaction():
                await connection.execute("INSERT INTO events VALUES ('a'), ('a'), ('b')")
            between = time.time()
            await connection.execute("INSERT INTO events VALUES ('a')")
            after = time.time()
        finally:
            await connection.close()
        commits = await timeline.committed(dsn, {"a": ("events", "event_type = 'a'")})

    first, second = sorted(commits["a"])
    assert first[1] == 2 and second[1] == 1  # rows per transaction, the other type left out
    assert before <= first[0] <= between <= second[0] <= after
    stage = timeline.stage(commits["a"], before)
    assert stage is not None
    assert (stage.commits, stage.rows, stage.first_rows) == (2, 3, 2)
    assert stage.first_s == round(first[0] - before, 3)
    assert stage.last_s == round(second[0] - before, 3)


async def test_publish_times_are_the_records_of_the_type(kafka: KafkaSettings) -> None:
    topic = kafka.topic("promptworks.run")
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers)
    await producer.start()
    before = time.time()
    try:
        for i, kind in enumerate([b"wanted", b"other", b"wanted", b"wanted"]):
            await producer.send_and_wait(
                topic, b"{}", key=str(i).encode(), headers=[("ce_type", kind)]
            )
    finally:
        await producer.stop()
    after = time.time()

    found = await timeline.published(kafka.bootstrap_servers, topic, {"stage": "wanted"})

    assert sum(rows for _, rows in found["stage"]) == 3
    assert all(before - 0.001 <= at <= after + 0.001 for at, _ in found["stage"])


def test_stages_are_ordered_by_their_start_and_absent_ones_left_out() -> None:
    stages = {
        "later": timeline.Stage(1.5, 4.0, 20, 10_000, 500),
        "never": None,
        "sooner": timeline.Stage(0.25, 0.25, 1, 1),
        "polled": timeline.Stage(2.0, 2.0, 0, 0),
    }

    assert timeline.ordered(stages) == {
        "sooner": "0.25 -> 0.25 s, 1 commits, 1 rows",
        "later": "1.50 -> 4.00 s, 20 commits, 10000 rows (first 500)",
        "polled": "2.00 s",
    }
    assert timeline.stage([], 0.0) is None


def test_consumer_batches_between_two_expositions() -> None:
    def exposition(batches: int, records: int, busy: float) -> str:
        return "\n".join(
            [
                "# TYPE promptworks_consumer_batch_records histogram",
                f'promptworks_consumer_batch_records_count{{consumer="c"}} {batches}.0',
                f'promptworks_consumer_batch_records_sum{{consumer="c"}} {records}.0',
                'promptworks_consumer_batch_records_bucket{consumer="c",le="5.0"} 1.0',
                f'promptworks_consumer_batch_duration_seconds_sum{{consumer="c"}} {busy}',
                'promptworks_consumer_batch_duration_seconds_sum{consumer="idle"} 0.5',
            ]
        )

    before = timeline.consumer_batches(exposition(2, 10, 0.25))
    after = timeline.consumer_batches(exposition(6, 2010, 1.75))

    assert before["c"] == {"batches": 2.0, "records": 10.0, "busy_s": 0.25}
    assert timeline.batches_between(before, after) == {
        "c": "4 batches, 2000 records (500 a batch), busy 1.50 s"
    }
