"""The outbox relay across broker kills: does every stream keep its order on Kafka?

Starts a private PostgreSQL + Kafka (free ports, a temporary state dir), an event store with
the relay, and writers that append to several streams in transactions of four events (as the
run recorder does), continuously. Meanwhile it kills the broker (-9) ``--kills`` times, each for
``--down`` seconds before starting it again. Then it lets the queue drain and reads the topic:
per stream, every stored version must be on one partition, and each version's first copy must
come before any later version's (a consumer skips an earlier version seen after a later one as a
duplicate). Prints each kill, the copies and events, and any stream that breaks the rule.

    uv run python -m bench.relay_broker_kills [--kills 8] [--streams 6] [--payload 3000] [--down S]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from promptworks_contracts.events import PromptArchived
from promptworks_contracts.topics import PROMPT_EVENTS
from promptworks_eventkit.db import asyncpg_dsn, create_engine, create_sessionmaker
from promptworks_eventkit.errors import ConcurrencyConflictError
from promptworks_eventkit.eventstore import EventStore
from promptworks_eventkit.kafka import create_producer, ensure_topics
from promptworks_eventkit.messages import MessageContext
from promptworks_eventkit.relay import OutboxRelay
from promptworks_eventkit.settings import KafkaSettings
from promptworks_eventkit.tables import metadata
from tests.support.faults import StreamCopies, read_records, streams_on
from tests.support.private_infra import PrivateInfra, running_private_infra


async def append_forever(
    sessions: async_sessionmaker[AsyncSession], store: EventStore, stream: str, payload: str
) -> None:
    """Four events a transaction on ``stream`` until cancelled; a failed append (the database
    is fine, the broker is not its business) is retried after reading the stream's version."""
    version = 0
    while True:
        try:
            async with sessions() as session, session.begin():
                events = [PromptArchived(prompt_id=uuid.UUID(stream), message=payload)] * 4
                await store.append(session, stream, events, version, MessageContext())
            version += 4
        except (ConcurrencyConflictError, OSError, asyncpg.PostgresError):
            async with sessions() as session:
                version = await store.version(session, stream)
        await asyncio.sleep(0.02)


async def kill_broker(infra: PrivateInfra, down: float) -> float:
    started = time.monotonic()
    await asyncio.to_thread(infra.crash_broker)
    await asyncio.sleep(down)
    await asyncio.to_thread(infra.up)
    return time.monotonic() - started


async def drained(dsn: str, timeout: float) -> int:
    """Waits until the outbox is empty (or ``timeout``); returns the rows left."""
    connection = await asyncpg.connect(dsn)
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while await connection.fetchval("SELECT count(*) FROM outbox"):
                    await asyncio.sleep(0.5)
        return int(await connection.fetchval("SELECT count(*) FROM outbox"))
    finally:
        await connection.close()


async def stored_versions(dsn: str) -> dict[str, int]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT stream_id, max(version) FROM events GROUP BY 1")
        return {stream: int(top) for stream, top in rows}
    finally:
        await connection.close()


def broken_streams(
    records: list[tuple[int, dict[str, bytes]]], stored: dict[str, int]
) -> list[str]:
    """Each stream that is not on one partition with every version's first copy in order."""
    on_topic = streams_on(records)
    broken = []
    for stream, top in stored.items():
        copies = on_topic.get(stream, StreamCopies())
        if copies.first != list(range(1, top + 1)) or len(copies.partitions) != 1:
            on = sorted(copies.partitions)
            broken.append(f"{stream}: partitions {on}, first copies {copies.first[:20]}")
    return broken


async def main(args: argparse.Namespace) -> None:
    draw = random.Random(args.seed)
    with (
        tempfile.TemporaryDirectory(prefix="relay-kills-") as tmp,
        running_private_infra(Path(tmp) / "infra") as infra,
    ):
        kafka = KafkaSettings(bootstrap_servers=infra.kafka_bootstrap_servers, topic_prefix="")
        await ensure_topics(kafka, [PROMPT_EVENTS])
        admin = await asyncpg.connect(asyncpg_dsn(f"{infra.database_url_base}/postgres"))
        await admin.execute("CREATE DATABASE relay_kills")
        await admin.close()
        url = f"{infra.database_url_base}/relay_kills"
        dsn = asyncpg_dsn(url)
        engine = create_engine(url, pool_size=args.streams + 2)
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        sessions = create_sessionmaker(engine)
        store = EventStore("/bench", kafka)
        producer = create_producer(kafka, "bench-relay")
        await producer.start()

        async def renew() -> AIOKafkaProducer:
            fresh = create_producer(kafka, "bench-relay-renewed")
            await fresh.start()
            return fresh

        relay = OutboxRelay(dsn, producer, poll_interval=0.2, renew=renew)
        payload = "x" * args.payload
        streams = [str(uuid.uuid4()) for _ in range(args.streams)]
        tasks = [asyncio.create_task(relay.run())]
        tasks += [asyncio.create_task(append_forever(sessions, store, s, payload)) for s in streams]
        for kill in range(1, args.kills + 1):
            await asyncio.sleep(draw.uniform(2, 5))
            down = args.down if args.down is not None else draw.uniform(0.5, 2)
            print(f"kill {kill}: broker away {await kill_broker(infra, down):.1f} s", flush=True)
        await asyncio.sleep(3)
        for task in tasks[1:]:
            task.cancel()
        left = await drained(dsn, timeout=300)
        tasks[0].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await producer.stop()
        await engine.dispose()
        stored = await stored_versions(dsn)
        records = await read_records(infra.kafka_bootstrap_servers, PROMPT_EVENTS)
        broken = broken_streams(records, stored)
        print(
            f"events {sum(stored.values())}, copies on Kafka {len(records)}, left in the outbox "
            f"{left}, streams out of order or split {len(broken)} of {len(stored)}"
        )
        for line in broken:
            print(f"  {line}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--streams", type=int, default=6)
    parser.add_argument("--payload", type=int, default=3000, help="bytes of each event's text")
    parser.add_argument("--down", type=float, default=None, help="seconds away (default 0.5-2)")
    parser.add_argument("--seed", type=int, default=None)
    asyncio.run(main(parser.parse_args()))
