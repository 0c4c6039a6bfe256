"""The rebuild's driver: copy the live schema's structure, replay every topic into the copy,
switch (ADR 0023).

1. Only one rebuild at a time: advisory lock ``REBUILD_KEY``, held by this process's own
   connection for the whole rebuild (a second one stops at once with a clear message).
2. ``read_models_next`` gets the live schema's tables, empty and UNLOGGED (no WAL while they
   are loaded), with their keys and unique indexes (``schemas.copy_structure``).
3. The projection, with the live one's handlers and consumer name, replays every partition of
   the topics from the beginning into it (its own connections' search path names it first,
   and they commit without waiting for the WAL flush), outside the live consumer group, up to
   the topics' end offsets as they were at the start, on the bulk path (``bulk``) and the run
   topic after the others; then the tables are made logged, the remaining indexes built, and
   it catches up with the end offsets again (the live consumer's code from here on).
4. The switch: advisory lock ``SWAP_FENCE_KEY`` taken exclusively (every live batch takes it
   shared, so the live projection pauses between two batches); the replay catches up with
   the offsets the live models stored (never behind what readers saw); one statement renames
   ``read_models`` to ``read_models_previous`` and ``read_models_next`` to ``read_models``;
   the lock is released. Each live replica's next batch sees other checkpoints (its fence)
   and seeks to the offsets stored in the new models: every event exactly once.
5. Any failure before the switch drops ``read_models_next``: the live models were never
   touched.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from promptworks_contracts.topics import PROMPT_EVENTS, RUN_EVENTS
from promptworks_eventkit.consumer import ConsumerRunner
from promptworks_eventkit.db import create_engine, create_sessionmaker
from promptworks_eventkit.kafka import create_producer
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.settings import KafkaSettings
from query_api.projections import CONSUMER_NAME, build_router
from query_api.projections.prompt_documents import render_all
from query_api.read_schema import LIVE, NEXT, PREVIOUS, REBUILD_KEY, SWAP_FENCE_KEY, use_schema
from query_api.rebuild import schemas
from query_api.rebuild.bulk import BulkReplay, dropped
from query_api.rebuild.progress import Echo, Progress
from query_api.rebuild.workers import (
    assign,
    may_spread,
    prepare,
    processes_for,
    replay_in_processes,
    shares,
)
from query_api.settings import QueryApiSettings
from query_api.tables import READ_MODEL_TABLES

REPLAY_MAX_RECORDS = 20_000
"""Records per replay batch (the live projection takes 5,000): fewer, larger statements."""


class RebuildError(Exception):
    """A rebuild that could not start or finish; the live read models are as they were."""


@dataclass(frozen=True)
class Timings:
    replay_events: int
    """Records of the replay proper (from the beginning to the end offsets at the start)."""
    replay_seconds: float
    replay_cpu_seconds: float
    """This process's CPU time during the replay proper, and its worker processes'."""
    fence_seconds: float
    """How long the live projection was paused for the switch."""
    peak_rss_mib: float | None = None
    """The largest replaying process's peak resident memory (replayed in several)."""

    @property
    def events_per_second(self) -> float:
        return self.replay_events / self.replay_seconds if self.replay_seconds > 0 else 0.0


@dataclass(frozen=True)
class RebuildReport:
    events: int
    """Every record applied (replay, catch-up, switch)."""
    seconds: float
    cpu_seconds: float
    timings: Timings


async def rebuild(
    settings: QueryApiSettings,
    *,
    keep_previous: bool = True,
    echo: Echo = print,
    processes: int | None = 1,
) -> RebuildReport:
    """Rebuilds every read model from the topics and switches to them (see the module);
    the replay proper in up to ``processes`` processes (``workers``; None: as many as the
    CPUs and the records warrant)."""
    progress = Progress(echo)
    admin = create_async_engine(settings.database_url.get_secret_value(), poolclass=NullPool)
    try:
        async with admin.connect() as raw:
            lock = await raw.execution_options(isolation_level="AUTOCOMMIT")
            await _only_rebuild(lock)
            try:
                return await _rebuild(settings, admin, lock, progress, keep_previous, processes)
            finally:
                await lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": REBUILD_KEY})
    finally:
        await admin.dispose()


async def roll_back(settings: QueryApiSettings, *, echo: Echo = print) -> None:
    """The previous models (kept by the last rebuild) become the live ones again, and the
    replaced ones the previous. The live projection seeks to the previous models' offsets and
    catches up from there."""
    admin = create_async_engine(settings.database_url.get_secret_value(), poolclass=NullPool)
    try:
        async with admin.connect() as raw:
            lock = await raw.execution_options(isolation_level="AUTOCOMMIT")
            await _only_rebuild(lock)
            try:
                if not await schemas.schema_exists(lock, PREVIOUS):
                    raise RebuildError(f"no schema {PREVIOUS} to roll back to")
                seconds = await _fenced(lock, schemas.ROLL_BACK)
                echo(
                    f"rolled back: {PREVIOUS} is live again "
                    f"(live projection paused {seconds:.3f} s)"
                )
            finally:
                await lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": REBUILD_KEY})
    finally:
        await admin.dispose()


async def _only_rebuild(lock: AsyncConnection) -> None:
    got = await lock.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": REBUILD_KEY})
    if not got:
        raise RebuildError(
            "another rebuild (or rollback) is running on this database "
            f"(advisory lock {REBUILD_KEY} is held); wait for it to finish"
        )


async def _rebuild(
    settings: QueryApiSettings,
    admin: AsyncEngine,
    lock: AsyncConnection,
    progress: Progress,
    keep_previous: bool,
    processes: int | None,
) -> RebuildReport:
    await _check_live(lock)
    if may_spread(processes):
        prepare()  # the replay's processes' imports run while the schema is copied
    # A schema left by a rebuild that died (we hold the rebuild lock: nobody else uses it).
    await schemas.drop(lock, NEXT)
    switched = False
    try:
        async with admin.begin() as connection:
            deferred = await schemas.copy_structure(connection, LIVE, NEXT, unlogged=True)
        progress.phase(f"schema {NEXT} created from {LIVE}")
        timings = await _replay_and_switch(settings, lock, progress, deferred, processes)
        switched = True
    finally:
        if not switched:
            await schemas.drop(lock, NEXT)
            progress.phase(f"failed: {NEXT} dropped, the live read models are untouched")
    seconds, cpu = progress.elapsed(), progress.cpu_seconds()
    progress.phase(
        f"switched: {LIVE} is the rebuilt models ({progress.events:,} events, "
        f"replay {timings.events_per_second:,.0f} events/s; "
        f"live projection paused {timings.fence_seconds:.3f} s)"
    )
    if keep_previous:
        progress.phase(f"the replaced models are kept as {PREVIOUS} (--rollback switches back)")
    else:
        await schemas.drop(lock, PREVIOUS)
        progress.phase(f"the replaced models ({PREVIOUS}) are dropped")
    return RebuildReport(progress.events, seconds, cpu, timings)


async def _check_live(connection: AsyncConnection) -> None:
    if not await schemas.schema_exists(connection, LIVE):
        raise RebuildError(f"schema {LIVE} is missing: run `query-api migrate` first")
    live = set(await schemas.tables_of(connection, LIVE))
    missing = sorted(t.name for t in READ_MODEL_TABLES if t.name not in live)
    if missing:
        # The replay would write those into public, where the live ones are.
        raise RebuildError(f"read-model tables outside schema {LIVE}: {', '.join(missing)}")


def _runner(
    settings: QueryApiSettings, engine: AsyncEngine, producer: AIOKafkaProducer
) -> ConsumerRunner:
    """The live projection's consumer, on connections that write ``read_models_next``."""
    router = build_router()

    async def handle(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
        await router(session, events)

    return ConsumerRunner(
        name=CONSUMER_NAME,  # the live projection continues from these checkpoints
        topics=router.topics,
        handles=router.handles,
        handler=handle,
        sessions=create_sessionmaker(engine),
        kafka=replay_kafka(settings),
        producer=producer,
        max_records=REPLAY_MAX_RECORDS,
    )


def replay_kafka(settings: QueryApiSettings) -> KafkaSettings:
    """The replay's Kafka settings: the live ones with the rebuild's larger fetches."""
    return settings.kafka.model_copy(
        update={
            "fetch_max_bytes": settings.rebuild_fetch_max_bytes,
            "max_partition_fetch_bytes": settings.rebuild_max_partition_fetch_bytes,
        }
    )


REPLAY_WORK_MEM = "64MB"
"""The replay's sessions' ``work_mem``: a batch's rows unpacked by ``json_to_recordset``
(20,000 results with their documents: ~20 MB) are kept in memory instead of a temporary file
written and read back per statement; two sessions per replaying process."""


def _replay_engine(settings: QueryApiSettings) -> AsyncEngine:
    """Connections that write ``read_models_next`` without waiting for each commit's WAL
    flush (``synchronous_commit = off``): a crash loses at most the last batches of a schema
    that is dropped and replayed anyway; the switch's own commit flushes everything before
    it (the WAL is sequential), so the models made live are durable. Their ``work_mem`` is
    ``REPLAY_WORK_MEM``."""
    engine = create_engine(settings.database_url.get_secret_value(), pool_size=2)
    use_schema(engine, NEXT)

    def replay_session(dbapi_connection: Any, _: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        cursor = dbapi_connection.cursor()
        cursor.execute("SET SESSION synchronous_commit = off")
        cursor.execute(f"SET SESSION work_mem = '{REPLAY_WORK_MEM}'")
        cursor.close()
        dbapi_connection.autocommit = autocommit

    event.listen(engine.sync_engine, "connect", replay_session)
    return engine


async def _bulk(
    settings: QueryApiSettings,
    runner: ConsumerRunner,
    consumer: AIOKafkaConsumer,
    engine: AsyncEngine,
    targets: dict[TopicPartition, int],
    progress: Progress,
) -> None:
    """The replay proper up to ``targets`` on the bulk path (``bulk``); the prompt documents
    and the search lexicon rendered once (this process replays every partition of the prompt
    topic or none: ``workers``): while the run topic is replayed if it has some of it, else at
    the end."""
    router = build_router(render_documents=False)
    replay = BulkReplay(
        runner=runner,
        consumer=consumer,
        handler=router,
        handles=router.handles,
        sessions=create_sessionmaker(engine),
        kafka=settings.kafka,
        max_records=REPLAY_MAX_RECORDS,
    )

    def applied(records: int, behind: int) -> None:
        progress.applied(records, behind, "replay")

    # The run topic last: a result's evaluation is then stored before the result, whose
    # document is rendered once as it is inserted (not inserted, then rendered again and
    # updated when its evaluation comes). The models do not depend on the order of topics.
    # Until then no result of this share's runs is stored (a share holds every partition of
    # its runs, `workers`), so evaluations are not spliced into documents.
    runs = settings.kafka.topic(RUN_EVENTS)
    later = [tp for tp in targets if tp.topic == runs]
    catalogue = [tp for tp in targets if tp.topic == settings.kafka.topic(PROMPT_EVENTS)]
    rendering: asyncio.Task[None] | None = None
    if later and len(later) < len(targets):
        consumer.pause(*later)
        await replay.until(
            {tp: o for tp, o in targets.items() if tp.topic != runs},
            applied,
            build_router(results_stored=False, render_documents=False),
        )
        consumer.resume(*later)
        if catalogue:
            # The catalogue is complete: its documents are rendered (PostgreSQL's work, one
            # statement) on a connection of their own while the runs are replayed, not after
            # them. Its partitions are paused meanwhile: a prompt event produced since the
            # targets were taken is left to the catch-up, which renders its document.
            consumer.pause(*catalogue)
            rendering = asyncio.create_task(_render_all(engine))
            progress.phase("prompt documents rendered beside the run topic's replay")
    try:
        await replay.until(targets, applied)
    except BaseException:
        await dropped(rendering)  # its transaction rolled back
        raise
    if rendering is not None:
        await rendering
        consumer.resume(*catalogue)
    elif catalogue:
        await _render_all(engine)
    if replay.fallbacks:
        progress.phase(f"{replay.fallbacks} batches applied by the live consumer's code")


async def _render_all(engine: AsyncEngine) -> None:
    async with create_sessionmaker(engine)() as session, session.begin():
        await render_all(session)


async def replay_share(settings: QueryApiSettings, targets: dict[TopicPartition, int]) -> int:
    """One process's share of the replay proper (``workers``): its partitions from the
    offsets stored in ``read_models_next`` up to ``targets``; the records applied."""
    engine = _replay_engine(settings)
    producer = create_producer(settings.kafka, f"{settings.service_name}-rebuild")
    consumer: AIOKafkaConsumer | None = None
    progress = Progress(lambda _: None)
    try:
        await producer.start()
        runner = _runner(settings, engine, producer)
        consumer = await runner.open_assigned(only=list(targets))
        await _bulk(settings, runner, consumer, engine, targets, progress)
        return progress.events
    finally:
        await _closed(consumer, producer, engine)


async def _replay_and_switch(
    settings: QueryApiSettings,
    lock: AsyncConnection,
    progress: Progress,
    deferred: list[str],
    processes: int | None,
) -> Timings:
    engine = _replay_engine(settings)
    producer = create_producer(settings.kafka, f"{settings.service_name}-rebuild")
    consumer: AIOKafkaConsumer | None = None
    try:
        await producer.start()  # dead letters, as the live projection sends them
        router = build_router()
        runner = _runner(settings, engine, producer)
        consumer = await runner.open_assigned()
        partitions = sorted(consumer.assignment())
        missing = {settings.kafka.topic(t) for t in router.topics} - {p.topic for p in partitions}
        if missing:
            # Most likely the wrong KAFKA_TOPIC_PREFIX or cluster: switching would serve empty
            # models.
            raise RebuildError(f"topics missing: {', '.join(sorted(missing))}")
        ends = await consumer.end_offsets(partitions)
        total = sum(ends.values())
        progress.phase(f"replaying {total:,} records of {len(partitions)} partitions into {NEXT}")
        began, cpu_began, events_before = time.monotonic(), time.process_time(), progress.events
        spread = processes_for(total, processes)
        work = assign(shares(settings.kafka, ends), ends, spread) if spread > 1 else []
        workers_cpu, peak_rss = 0.0, None
        if len(work) > 1:
            progress.phase(f"replaying in {len(work)} processes")
            spawned = time.time()
            done = await replay_in_processes(settings, work)
            for share, d in zip(work, done, strict=True):
                topics = ", ".join(sorted({tp.topic.rsplit(".", 1)[-1] for tp in share}))
                progress.phase(
                    f"a process replayed {d.events:,} events ({topics}) from "
                    f"{d.started - spawned:.1f} to {d.ended - spawned:.1f} s after the spawn "
                    f"({d.cpu_seconds:.1f} CPU s, peak RSS {d.peak_rss_mib:.0f} MiB)"
                )
            progress.events += sum(d.events for d in done)
            workers_cpu = sum(d.cpu_seconds for d in done)
            peak_rss = max(d.peak_rss_mib for d in done)
            # Their offsets, stored with their effects in NEXT: where this runner continues.
            await runner.seek_to_stored_offsets(partitions)
        else:
            await _bulk(settings, runner, consumer, engine, ends, progress)
            await runner.seek_to_stored_offsets(partitions)  # where the bulk path stopped
        replay_events = progress.events - events_before
        replay_seconds = time.monotonic() - began
        replay_cpu = time.process_time() - cpu_began + workers_cpu
        progress.phase(
            f"replayed {replay_events:,} events in {replay_seconds:.1f} s "
            f"({replay_events / max(replay_seconds, 1e-9):,.0f} events/s, "
            f"{replay_cpu:.1f} CPU s); building {len(deferred)} indexes"
        )
        async with engine.begin() as connection:
            # Written to the WAL from here on: what the switch makes live is crash-safe.
            await schemas.set_logged(connection, NEXT)
            for statement in deferred:
                await connection.execute(text(statement))
            # Planner statistics for the new tables, as autovacuum would gather after a load.
            names = ", ".join(
                f"{NEXT}.{schemas.quoted(t)}" for t in await schemas.tables_of(connection, NEXT)
            )
            await connection.execute(text(f"ANALYZE {names}"))
        progress.phase("indexes built; catching up with the topics")
        await _until(runner, consumer, await consumer.end_offsets(partitions), progress, "catch-up")
        await schemas.drop(lock, PREVIOUS)
        started = time.monotonic()
        await lock.execute(text("SELECT pg_advisory_lock(:k)"), {"k": SWAP_FENCE_KEY})
        try:
            # The live projection is between two batches now: what it stored is final.
            live = await _live_offsets(lock, settings)
            await _until(runner, consumer, live, progress, "switch")
            await lock.execute(text(schemas.PROMOTE))
        finally:
            await lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": SWAP_FENCE_KEY})
        fence_seconds = time.monotonic() - started
        return Timings(replay_events, replay_seconds, replay_cpu, fence_seconds, peak_rss)
    finally:
        # Its connections name NEXT first, which no longer exists: never used again.
        await _closed(consumer, producer, engine)


async def _closed(
    consumer: AIOKafkaConsumer | None, producer: AIOKafkaProducer, engine: AsyncEngine
) -> None:
    """Stops the replay's Kafka clients and disposes of its engine, each even if one before
    it fails."""
    try:
        if consumer is not None:
            await _stopped(consumer.stop())
    finally:
        try:
            await _stopped(producer.stop())
        finally:
            await engine.dispose()


async def _stopped(stop: Awaitable[None]) -> None:
    """Stops a Kafka client; aiokafka can raise the CancelledError of a task of its own that
    it cancelled on the way (a consumer stopped before its first fetch): not ours to pass on,
    unless this task is being cancelled itself."""
    try:
        await stop
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise


async def _fenced(lock: AsyncConnection, statement: str) -> float:
    started = time.monotonic()
    await lock.execute(text("SELECT pg_advisory_lock(:k)"), {"k": SWAP_FENCE_KEY})
    try:
        await lock.execute(text(statement))
    finally:
        await lock.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": SWAP_FENCE_KEY})
    return time.monotonic() - started


async def _live_offsets(
    lock: AsyncConnection, settings: QueryApiSettings
) -> dict[TopicPartition, int]:
    rows = await lock.execute(
        text(
            f"SELECT topic, partition, next_offset FROM {LIVE}.consumer_offsets WHERE consumer = :c"
        ),
        {"c": CONSUMER_NAME},
    )
    return {TopicPartition(settings.kafka.topic(t), p): o for t, p, o in rows}


async def _until(
    runner: ConsumerRunner,
    consumer: AIOKafkaConsumer,
    targets: dict[TopicPartition, int],
    progress: Progress,
    phase: str,
) -> None:
    """Applies records until every partition's committed position reached its target."""
    unknown = set(targets) - consumer.assignment()
    if unknown:
        raise RebuildError(f"partitions the replay cannot read: {sorted(unknown)}")

    def behind() -> int:
        positions = runner.positions()
        return sum(max(0, o - positions.get(tp, 0)) for tp, o in targets.items())

    while behind() > 0:
        records = await runner.poll(consumer)
        progress.applied(records, behind(), phase)
