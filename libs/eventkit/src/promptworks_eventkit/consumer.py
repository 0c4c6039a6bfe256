"""The consumer runner: exactly-once in effect on top of at-least-once Kafka delivery.

How it holds:
- Offsets live in PostgreSQL (``consumer_offsets``) and are written in the SAME transaction as
  the batch's effects. On assignment the consumer seeks to them, so a crash anywhere replays
  exactly what was not committed. Kafka's own group offsets are committed best-effort after
  (at most once a second), for lag monitoring only.
- Per stream, events arrive in version order; an event at or below the stream's applied version
  (``consumer_stream_positions``) is a duplicate and is skipped in the same transaction.
- A batch is processed under a lock that ``on_partitions_revoked`` also takes, so a rebalance
  waits for the batch in flight to commit, and only partitions still assigned are processed.
- Records are applied only from the stored offsets (ADR 0035): a fetch whose records do not
  start at a partition's next offset (the client's position ran ahead, say to Kafka's group
  offset after a failed seek) is dropped and the client sought back. One client at a time:
  a client the runner replaced neither applies nor moves positions.
- A batch whose handler fails is retried with backoff; if it keeps failing, its events are
  applied one by one and the one that still fails goes to ``<topic>.dlq`` (error in headers)
  and ``dead_letters``, then the consumer moves on. An undecodable event goes there at once.
- Batches are bounded (``max_records``) and handlers do database work only, so the loop never
  approaches ``max_poll_interval_ms``; long work (model calls) runs elsewhere.
- A consumer that makes no progress for ``stall_seconds`` (no batch applied, and idle probes
  find it neither caught up nor, owning nothing, in its group) gets a new Kafka client
  (``consumer_watchdog``, ADR 0034): aiokafka's can stay wedged after a broker restart.
- ``asynchronous_commit`` (derived read models only, ADR 0026): each batch commits with
  ``synchronous_commit = off``, so PostgreSQL may lose the last acknowledged batches in a crash.
  Every such transaction (and every idle poll) first reads the stored offsets and compares them
  with the ones kept in memory; if they differ, commits were lost (or the checkpoints moved),
  nothing of the batch is committed and the consumer seeks back to the stored offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.errors import CommitFailedError, KafkaError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from promptworks_eventkit.consumer_checkpoints import (
    ASYNCHRONOUS_CHECKPOINTS,
    checkpoint,
    checkpoint_statement,
)
from promptworks_eventkit.consumer_dead_letters import dead_letter_row, send_to_dlq
from promptworks_eventkit.consumer_positions import Gap, gaps
from promptworks_eventkit.consumer_records import ConsumedRecord, correlations, decode
from promptworks_eventkit.consumer_watchdog import STOP_SECONDS, ConsumerStalled, Watchdog
from promptworks_eventkit.exposition import shared_by_workers
from promptworks_eventkit.failures import is_infrastructure_failure
from promptworks_eventkit.fence import CheckpointsMoved, Fence
from promptworks_eventkit.gc_pause import gc_paused
from promptworks_eventkit.messages import ReceivedEvent
from promptworks_eventkit.metrics import (
    CONSUMER_APPLIED,
    CONSUMER_APPLIED_AGE,
    CONSUMER_BATCH_DURATION,
    CONSUMER_BATCH_RECORDS,
    CONSUMER_DEAD_LETTERS,
    CONSUMER_DUPLICATES,
    CONSUMER_GAPS,
    CONSUMER_LAG,
    CONSUMER_RESTARTS,
)
from promptworks_eventkit.settings import KafkaSettings
from promptworks_eventkit.tables import consumer_offsets, dead_letters
from promptworks_eventkit.tracing import enabled as tracing_enabled
from promptworks_eventkit.tracing import processing

log = structlog.get_logger(__name__)

GROUP_COMMIT_SECONDS = 1.0
"""At most one commit of Kafka's group offsets per interval: they only feed lag dashboards."""
GROUP_COMMIT_TIMEOUT = 5.0
"""The longest a group commit may hold the consume loop; it is tried again a second later."""

BatchHandler = Callable[[AsyncSession, Sequence[ReceivedEvent]], Awaitable[None]]
"""Applies events (already deduplicated, in partition order) inside the given transaction."""

AppliedHook = Callable[[Sequence[ReceivedEvent]], None]
"""Told the events of a batch once they are committed (e.g. to count them); must not fail.
With ``asynchronous_commit`` an event may be told again after a database crash."""


CO_PARTITIONED = (RangePartitionAssignor,)
"""The assignor of a group whose handlers join streams across topics keyed alike (query-api's
projection: a run's results on the run topic, their evaluations on the evaluation topic, both
keyed by the run): by range, partition *p* of every topic goes to one member (topics of equal
partition counts), so each run has one writer whatever the number of replicas. aiokafka's
default, round robin over all topic-partitions, gave run-events *p* and evaluation-events *p* to
different members whenever the member count did not divide their distance in that order, and two
transactions that each missed the other's uncommitted rows left a result's document without its
evaluation (ADR 0031). Range alone: offering round robin as well (for rolling upgrades) sent
groups of three or four in-process members into rebalances that did not settle for a minute, in
most runs on a fresh broker."""
SHARED = (RoundRobinPartitionAssignor,)
"""Every other group's (aiokafka's default): no handler of theirs joins streams across topics."""


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """One client's listener: a client the runner has replaced (``ConsumerRunner.run``) is
    left alone, and never moves the current client's positions or offsets."""

    def __init__(self, runner: ConsumerRunner, consumer: AIOKafkaConsumer) -> None:
        self._runner = runner
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # Waits for the batch in flight: its effects and offsets commit together, or not at all.
        async with self._runner.batch_lock:
            if self._runner.current(self._consumer):
                self._runner.forget_lag(revoked)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        # Under the lock: the offsets it seeks to must include the batch in flight, if any.
        async with self._runner.batch_lock:
            if not self._runner.current(self._consumer):
                return
            self._runner.generation += 1
            # Forgotten first: if the seek fails (the database away), the client fetches from
            # Kafka's group offsets, and no batch is applied until a seek succeeds (_process).
            self._runner.forget_positions(assigned)
            await self._runner.seek_to_stored_offsets(assigned)


async def _gone_before(consumer: AIOKafkaConsumer, gap: Gap) -> bool:
    """Whether the broker no longer has the records before ``gap`` (the log's start moved
    past them): nothing there to apply."""
    start = (await consumer.beginning_offsets([gap.partition]))[gap.partition]
    return bool(start >= gap.first)


class ConsumerRunner:
    def __init__(
        self,
        *,
        name: str,
        topics: Sequence[str],
        handles: Callable[[str], bool],
        handler: BatchHandler,
        sessions: async_sessionmaker[AsyncSession],
        kafka: KafkaSettings,
        producer: AIOKafkaProducer,
        max_records: int = 2000,
        max_attempts: int = 3,
        retry_backoff: float = 0.2,
        on_applied: AppliedHook | None = None,
        fence: Fence | None = None,
        asynchronous_commit: bool = False,
        transaction_settings: Mapping[str, str] | None = None,
        co_partitioned: bool = False,
        stall_seconds: float | None = None,
    ) -> None:
        """``asynchronous_commit``: only for consumers whose effects are derived data that
        nothing else reads as a source (a read model), never for one that appends events
        (an outbox): see the module's docstring and ADR 0026. ``transaction_settings``:
        PostgreSQL settings for each batch's transaction (``SET LOCAL``), set by the batch's
        bookkeeping statement rather than by a round trip of their own. ``co_partitioned``:
        the group's partitions shared by range (``CO_PARTITIONED``). ``stall_seconds``: the
        watchdog's window (default: ``KafkaSettings.consumer_stall_seconds``)."""
        self.name = name
        self._assignors = CO_PARTITIONED if co_partitioned else SHARED
        self._transaction_settings = json.dumps(dict(transaction_settings or {}))
        self._fence = fence
        self._checkpoint_statement = checkpoint_statement(fence.TOKEN if fence else "NULL")
        self._asynchronous = asynchronous_commit
        self._fence_token: Any = None
        """What ``fence`` answered when the offsets in ``_next_offsets`` were read."""
        self._on_applied = on_applied
        self._topics = list(topics)
        self._handles = handles
        self._handler = handler
        self._sessions = sessions
        self._kafka = kafka
        self._producer = producer
        self._max_records = max_records
        self._max_attempts = max_attempts
        self._retry_backoff = retry_backoff
        self.batch_lock = asyncio.Lock()
        self.generation = 0
        """Counts assignments: a batch fetched across one is dropped (see ``_process``)."""
        self._next_offsets: dict[TopicPartition, int] = {}
        """Per partition, the first offset not yet committed to ``consumer_offsets``."""
        self._consumer: AIOKafkaConsumer | None = None
        self._replaying = False
        """Set by ``open_assigned``: no group, so no group offsets to commit."""
        self._group_committed_at = float("-inf")
        self._group_pending = False
        """A batch committed to the database since Kafka's group offsets were last committed."""
        self.running = False
        self._client_id = f"{name}.{uuid.uuid4().hex[:12]}"
        """Unique per runner: the watchdog finds this member among its group's by it."""
        self._watchdog = Watchdog(
            kafka=kafka,
            group=kafka.topic(name),
            client_id=self._client_id,
            stall_seconds=stall_seconds or kafka.consumer_stall_seconds,
        )

    async def run(self) -> None:
        """Consumes until cancelled; a new Kafka consumer after a failure or a stall."""
        while True:
            try:
                await self._watchdog.guard(self._consume())
            except asyncio.CancelledError:
                raise
            except ConsumerStalled as stall:
                self.running = False
                CONSUMER_RESTARTS.labels(self.name, "stalled").inc()
                log.error("consumer stalled; a new client", consumer=self.name, why=str(stall))
            except Exception:
                self.running = False
                CONSUMER_RESTARTS.labels(self.name, "failed").inc()
                log.exception("consumer failed; restarting", consumer=self.name)
                await asyncio.sleep(1.0)

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._kafka.bootstrap_servers,
            group_id=self._kafka.topic(self.name),
            client_id=self._client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=300_000,
            fetch_max_bytes=self._kafka.fetch_max_bytes,
            fetch_max_wait_ms=self._kafka.fetch_max_wait_ms,
            max_partition_fetch_bytes=self._kafka.max_partition_fetch_bytes,
            partition_assignment_strategy=self._assignors,
        )
        self._consumer = consumer
        topics = [self._kafka.topic(t) for t in self._topics]
        consumer.subscribe(topics, listener=_Rebalance(self, consumer))
        try:
            await consumer.start()
            self.running = True
            # Until replaced: a loop the watchdog gave up on (its cancel not taken in time) ends
            # at its next turn instead of consuming beside its successor.
            while self.current(consumer):
                generation = self.generation
                batch = await consumer.getmany(timeout_ms=500, max_records=self._max_records)
                if batch:
                    await self._process_freed(consumer, batch, generation)
                else:
                    if self._group_pending:  # idle: the last batches' offsets, not left behind
                        await self._commit_group(consumer)
                    if self._fence is not None or self._asynchronous or self._unsought(consumer):
                        await self._check_checkpoints(consumer)
                    if self._watchdog.probe_due():
                        await self._watchdog.probe(consumer, self._next_offsets)
                self._record_lag(consumer)
        finally:
            self.running = False
            self.forget_lag(list(self._next_offsets))
            try:
                async with asyncio.timeout(STOP_SECONDS):
                    await consumer.stop()
            except TimeoutError:
                log.warning("consumer did not stop in time; abandoned", consumer=self.name)

    async def open_assigned(self, only: Sequence[TopicPartition] | None = None) -> AIOKafkaConsumer:
        """A consumer outside any group, assigned every partition of the topics (or ``only``
        those) and sought to the stored offsets: for a replay beside the live consumers
        (query-api's rebuild), which must not take their partitions. Drive it with ``poll``;
        stop it when done."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._kafka.bootstrap_servers,
            group_id=None,
            client_id=f"{self.name}.replay",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_bytes=self._kafka.fetch_max_bytes,
            fetch_max_wait_ms=self._kafka.fetch_max_wait_ms,
            max_partition_fetch_bytes=self._kafka.max_partition_fetch_bytes,
        )
        partitions = await self._partitions()
        if only is not None:
            partitions = [tp for tp in partitions if tp in set(only)]
        await consumer.start()
        try:
            consumer.assign(partitions)
            self._consumer = consumer
            self._replaying = True
            await self.seek_to_stored_offsets(partitions)
        except BaseException:
            await consumer.stop()
            raise
        return consumer

    async def _partitions(self) -> list[TopicPartition]:
        """Every partition of the topics that exist (a missing topic has nothing to replay)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self._kafka.bootstrap_servers)
        await admin.start()
        try:
            present = set(await admin.list_topics())
            names = [n for n in (self._kafka.topic(t) for t in self._topics) if n in present]
            described = await admin.describe_topics(names) if names else []
        finally:
            await admin.close()
        return sorted(
            TopicPartition(topic["topic"], partition["partition"])
            for topic in described
            for partition in topic["partitions"]
        )

    async def poll(self, consumer: AIOKafkaConsumer, timeout_ms: int = 500) -> int:
        """Fetches one batch and applies it; the number of records fetched."""
        generation = self.generation
        batch = await consumer.getmany(timeout_ms=timeout_ms, max_records=self._max_records)
        fetched = sum(len(messages) for messages in batch.values())
        if batch:
            await self._process_freed(consumer, batch, generation)
        return fetched

    def positions(self) -> dict[TopicPartition, int]:
        """Per partition, the first offset not yet committed with the effects."""
        return dict(self._next_offsets)

    def current(self, consumer: AIOKafkaConsumer) -> bool:
        """Whether ``consumer`` is the runner's client (not one it replaced)."""
        return consumer is self._consumer

    def forget_positions(self, partitions: Sequence[TopicPartition]) -> None:
        """Unknown until the next seek to the stored offsets: no batch of theirs is applied."""
        for tp in partitions:
            self._next_offsets.pop(tp, None)

    def _unsought(self, consumer: AIOKafkaConsumer) -> bool:
        """Whether an owned partition's next offset is unknown (its assignment's seek failed)."""
        return any(tp not in self._next_offsets for tp in consumer.assignment())

    async def _check_checkpoints(self, consumer: AIOKafkaConsumer) -> None:
        """Idle, no batch checks the fence or the stored offsets: check them here, so that
        checkpoints moved back (a rollback to older models), commits lost in a database crash
        (``asynchronous_commit``) or an assignment's failed seek are read again even when no
        new event arrives."""
        assigned = list(consumer.assignment())
        if not assigned:
            return
        try:
            async with self.batch_lock:
                if not self.current(consumer):
                    return
                moved = self._unsought(consumer)
                if not moved:
                    async with self._sessions() as session, session.begin():
                        moved = await self._checkpoints_moved(session)
                if moved:
                    log.info("checkpoints moved; seeking to the stored offsets", consumer=self.name)
                    await self.seek_to_stored_offsets(assigned)
        except Exception as error:
            # The database away: the next batch checks again, in its own transaction; an idle
            # consumer must not restart (and rebalance its group) for it.
            log.warning("fence check failed", consumer=self.name, error=repr(error))

    async def _checkpoints_moved(self, session: AsyncSession) -> bool:
        """Whether the session sees other checkpoints than the offsets kept in memory: the
        fence's token changed, or (``asynchronous_commit``) an owned partition's stored offset
        differs from the next offset in memory, i.e. commits acknowledged before were lost."""
        if self._fence is not None and await self._fence(session) != self._fence_token:
            return True
        if not self._asynchronous:
            return False
        rows = await session.execute(ASYNCHRONOUS_CHECKPOINTS, {"consumer": self.name})
        return self._offsets_differ({(t, p): o for t, p, o in rows if t is not None})

    def _offsets_differ(self, stored: dict[tuple[str, int], int]) -> bool:
        """Whether an owned partition's stored offset is not the next offset in memory."""
        if self._consumer is None:
            return False
        for tp in self._consumer.assignment():
            expected = self._next_offsets.get(tp)
            found = stored.get((self._kafka.logical_topic(tp.topic), tp.partition), 0)
            # No offset in memory: the seek on assignment failed (the database away), and
            # Kafka's own position may be past what survived: seek to the stored ones first.
            if expected is None or found != expected:
                self._warn(
                    "stored offsets differ from the consumer's (commits lost, or never read)",
                    tp,
                    stored=found,
                    expected=expected,
                )
                return True
        return False

    def _warn(self, message: str, tp: TopicPartition, **offsets: int | None) -> None:
        log.warning(message, consumer=self.name, partition=f"{tp.topic}:{tp.partition}", **offsets)

    def _record_lag(self, consumer: AIOKafkaConsumer) -> None:
        """Per owned partition: its high watermark (from the last fetch) minus our position."""
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            position = self._next_offsets.get(tp)
            if highwater is None or position is None:
                continue
            CONSUMER_LAG.labels(
                self.name, self._kafka.logical_topic(tp.topic), str(tp.partition)
            ).set(max(0, highwater - position))

    def forget_lag(self, partitions: Sequence[TopicPartition]) -> None:
        """A partition this process no longer owns must not report a stale lag. Across worker
        processes a series cannot be removed (prometheus-client only warns): there the new
        owner's value wins, as the most recent (``CONSUMER_LAG``'s mode)."""
        if shared_by_workers():
            return
        for tp in partitions:
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(
                    self.name, self._kafka.logical_topic(tp.topic), str(tp.partition)
                )

    async def seek_to_stored_offsets(self, assigned: Sequence[TopicPartition]) -> None:
        consumer = self._consumer
        if consumer is None or not assigned:
            return
        async with self._sessions() as session:
            if self._fence is not None:
                self._fence_token = await self._fence(session)
            rows = await session.execute(
                select(
                    consumer_offsets.c.topic,
                    consumer_offsets.c.partition,
                    consumer_offsets.c.next_offset,
                ).where(consumer_offsets.c.consumer == self.name)
            )
            stored = {(t, p): o for t, p, o in rows}
        for tp in assigned:
            offset = stored.get((self._kafka.logical_topic(tp.topic), tp.partition))
            self._next_offsets[tp] = offset or 0
            if offset is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, offset)

    async def _process_freed(
        self,
        consumer: AIOKafkaConsumer,
        batch: dict[TopicPartition, list[Any]],
        generation: int,
    ) -> None:
        """``_process`` with the collector paused (``gc_pause``) until the batch's objects
        (aiokafka's records and what was decoded from them) are freed: the caller's ``batch``
        is emptied, ``_process``'s own references are gone with its frame. A failing batch
        keeps it paused across its retries (bounded by ``max_attempts`` and the batch)."""
        with gc_paused():
            await self._process(consumer, batch, generation)
            batch.clear()

    async def _process(
        self,
        consumer: AIOKafkaConsumer,
        batch: dict[TopicPartition, list[Any]],
        generation: int,
    ) -> None:
        async with self.batch_lock:
            if not self.current(consumer):
                return  # replaced (the watchdog gave up on this loop): its successor applies
            if generation != self.generation:
                # Partitions were (re)assigned while this batch was fetched, and the assignment
                # seeked to the stored offsets: the batch may predate that seek. Drop it and
                # seek again, so its records are read once more from the stored offsets:
                # nothing skipped, nothing (not even a dead letter) handled twice.
                await self.seek_to_stored_offsets(list(consumer.assignment()))
                return
            owned = consumer.assignment()
            if not await self._contiguous(consumer, batch, owned):
                await self.seek_to_stored_offsets(list(owned))
                return
            # A record below the committed position was applied already: aiokafka can hand a
            # partition's records over twice (a fetch that was in flight across a metadata
            # refresh), and a dead letter must not be sent twice.
            records = [
                ConsumedRecord(
                    topic=self._kafka.logical_topic(tp.topic),
                    physical_topic=tp.topic,
                    partition=tp.partition,
                    offset=m.offset,
                    key=m.key,
                    value=m.value,
                    headers=list(m.headers or ()),
                    timestamp=m.timestamp,
                )
                for tp, messages in batch.items()
                if tp in owned
                for m in messages
                if m.offset >= self._next_offsets.get(tp, 0)
            ]
            if records:
                try:
                    await self._apply_with_retries(records)
                except CheckpointsMoved:
                    # Other checkpoints (a rebuild switched the read models): nothing of this
                    # batch was committed; read again from the offsets stored with them.
                    log.info("checkpoints moved; seeking to the stored offsets", consumer=self.name)
                    await self.seek_to_stored_offsets(list(consumer.assignment()))
                    return
                for tp, messages in batch.items():
                    if tp in owned:
                        self._next_offsets[tp] = max(
                            self._next_offsets.get(tp, 0), messages[-1].offset + 1
                        )
            self._watchdog.mark()  # fetched and applied: progress
        if self._replaying:
            return  # a replay outside any group (``open_assigned``) has nothing to commit
        self._group_pending = True
        if time.monotonic() - self._group_committed_at >= GROUP_COMMIT_SECONDS:
            # Not per batch: a broker round trip would delay the next batch, for a gauge.
            await self._commit_group(consumer)

    async def _contiguous(
        self,
        consumer: AIOKafkaConsumer,
        batch: dict[TopicPartition, list[Any]],
        owned: set[TopicPartition],
    ) -> bool:
        """Whether each owned partition's new records start at its next offset
        (``consumer_positions``). A gap is accepted only where the broker no longer has the
        records before it (the log's start moved past them)."""
        for gap in gaps(batch, owned, self._next_offsets):
            if gap.expected is not None and await _gone_before(consumer, gap):
                continue
            self._warn(
                "records do not follow the stored offsets; seeking to them",
                gap.partition,
                expected=gap.expected,
                first=gap.first,
            )
            CONSUMER_GAPS.labels(self.name).inc()
            return False
        return True

    async def _commit_group(self, consumer: AIOKafkaConsumer) -> None:
        """Kafka's group offsets up to what is committed with the effects: informational only
        (lag dashboards, autoscalers); the truth is in consumer_offsets."""
        self._group_committed_at, self._group_pending = time.monotonic(), False
        owned = consumer.assignment()
        offsets = {tp: offset for tp, offset in self._next_offsets.items() if tp in owned}
        if not offsets:
            return  # none known yet (the assignment's seek failed): aiokafka refuses an empty one
        # Bounded: aiokafka retries a commit until the coordinator answers, which would hold
        # the loop (fetches, fence checks, the watchdog's probes) for a whole broker outage.
        with contextlib.suppress(CommitFailedError, KafkaError, TimeoutError):
            async with asyncio.timeout(GROUP_COMMIT_TIMEOUT):
                await consumer.commit(offsets)

    async def _apply_with_retries(self, records: list[ConsumedRecord]) -> None:
        decoded, poison = decode(records, self._handles)  # the collector is paused (_process_freed)
        sent: set[int] = set()  # dead letters already on the DLQ topic: sent once, not per try
        for attempt in range(1, self._max_attempts + 1):
            try:
                await self._apply(records, decoded, poison, sent)
                return
            except CheckpointsMoved:
                raise
            except Exception as error:
                log.warning(
                    "batch failed",
                    consumer=self.name,
                    attempt=attempt,
                    error=repr(error),
                    correlation_ids=correlations(records),
                )
                if attempt == self._max_attempts and is_infrastructure_failure(error):
                    # The database or broker is down: no event is to blame. Give up the batch
                    # (nothing was committed); the runner restarts and re-reads it from the
                    # stored offsets once the infrastructure is back.
                    raise
                await asyncio.sleep(self._retry_backoff * 2 ** (attempt - 1))
        # Still failing: isolate the poison event(s) by applying one record at a time.
        for record in records:
            event = decoded.get(id(record))
            try:
                await self._apply([record], {id(record): event} if event else {}, poison, sent)
            except CheckpointsMoved:
                raise
            except Exception as error:
                if is_infrastructure_failure(error):
                    raise
                poison[id(record)] = f"handler failed: {error!r}"
                await self._apply([record], {id(record): event} if event else {}, poison, sent)

    async def _apply(
        self,
        records: list[ConsumedRecord],
        decoded: dict[int, ReceivedEvent],
        poison: dict[int, str],
        sent: set[int],
    ) -> None:
        """One transaction: dead letters, deduplicated effects, stream positions, offsets;
        timed and sized once committed (``_observe_batch``)."""
        started = time.perf_counter()
        await self._apply_once(records, decoded, poison, sent)
        self._observe_batch(records, time.perf_counter() - started)

    def _observe_batch(self, records: list[ConsumedRecord], seconds: float) -> None:
        """The committed batch's duration, size and oldest record's age (live consumers only:
        a replay outside any group reads old records on purpose)."""
        if not records or self._replaying:
            return
        CONSUMER_BATCH_DURATION.labels(self.name).observe(seconds)
        CONSUMER_BATCH_RECORDS.labels(self.name).observe(len(records))
        oldest = min(record.timestamp for record in records)
        CONSUMER_APPLIED_AGE.labels(self.name).observe(max(0.0, time.time() - oldest / 1000))

    async def _apply_once(
        self,
        records: list[ConsumedRecord],
        decoded: dict[int, ReceivedEvent],
        poison: dict[int, str],
        sent: set[int],
    ) -> None:
        dead = [r for r in records if id(r) in poison]
        for record in dead:
            if id(record) not in sent:
                await send_to_dlq(self._producer, self.name, record, poison[id(record)])
                sent.add(id(record))
        async with self._sessions() as session, session.begin():
            if self._fence is not None:
                await self._fence.lock(session)  # its token comes with the bookkeeping, below
            # A decodable dead letter moves its stream's position like an applied event: a
            # re-sent copy of it is then a duplicate, so only an operator's replay applies it
            # (once), never a redelivery as well.
            dead_ids = {id(decoded[id(r)]) for r in dead if id(r) in decoded}
            events = [decoded[id(r)] for r in records if id(r) in decoded]
            fresh, stored, token = await checkpoint(
                session,
                self._checkpoint_statement,
                consumer=self.name,
                records=records,
                events=events,
                asynchronous=self._asynchronous,
                settings=self._transaction_settings,
            )
            if self._fence is not None and token != self._fence_token:
                raise CheckpointsMoved  # written to other checkpoints: rolled back
            if self._asynchronous and self._offsets_differ(stored):
                raise CheckpointsMoved  # commits were lost: nothing of this one is committed
            fresh = [e for e in fresh if id(e) not in dead_ids]
            events = [e for e in events if id(e) not in dead_ids]
            if fresh:
                if tracing_enabled():
                    await self._handle_traced(session, records, fresh)
                else:
                    await self._handler(session, fresh)
            if dead:
                await session.execute(
                    dead_letters.insert(),
                    [dead_letter_row(self.name, r, poison[id(r)]) for r in dead],
                )
        # Committed: what is stored is what the next transaction must find (one by one after a
        # failed batch, several commits make up one batch).
        for record in records:
            tp = TopicPartition(record.physical_topic, record.partition)
            self._next_offsets[tp] = max(self._next_offsets.get(tp, 0), record.offset + 1)
        by_type: dict[str, int] = {}
        for event in fresh:
            by_type[event.envelope.type] = by_type.get(event.envelope.type, 0) + 1
        for event_type, count in by_type.items():
            CONSUMER_APPLIED.labels(self.name, event_type).inc(count)
        CONSUMER_DUPLICATES.labels(self.name).inc(len(events) - len(fresh))
        for record in dead:
            CONSUMER_DEAD_LETTERS.labels(self.name, record.topic).inc()
        if fresh and self._on_applied is not None:
            self._on_applied(fresh)

    async def _handle_traced(
        self, session: AsyncSession, records: list[ConsumedRecord], fresh: list[ReceivedEvent]
    ) -> None:
        """The handler within one process span per event (``tracing.processing``)."""
        headers = {(r.topic, r.partition, r.offset): r.headers for r in records}
        with processing(
            self.name, fresh, [headers[(e.topic, e.partition, e.offset)] for e in fresh]
        ) as traced:
            await self._handler(session, traced)
