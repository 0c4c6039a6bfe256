"""The outbox relay: publishes committed outbox rows to Kafka, in order, at least once.

Invariants and the choices behind them:
- The outbox is a queue (ADR 0028): every row in it is unpublished. Rows are read in
  ``position`` order from the head, never "after the last position seen": a row whose
  transaction commits late (its position is lower than rows already published) is still in the
  queue and is picked up by the next pass. No late commit can be skipped.
- Per aggregate, ``position`` order is version order: an append after version N needs version N
  committed (the expected-version check reads committed rows; a concurrent append of the same
  version waits on the unique (stream_id, version) index and fails), so it takes its positions
  from the sequence after N's. Ordering by transaction id (or snapshot) instead would not give
  this: an older transaction may append a stream's next version after a newer one committed.
- A row's message is its event's row in ``events``: ``data``'s text as UTF-8 bytes (exactly what
  the service serialised), keyed by ``stream_id``, with the envelope's headers built from
  ``metadata`` (``kafka_headers``, as ``Envelope.to_kafka_headers``); the outbox row adds the
  topic.
- A batch is sent in position order through one idempotent producer and its rows are deleted
  only after every send of it was acknowledged. A crash in between re-sends the batch:
  duplicates carry the same ``ce_id`` and stream version, which consumers skip. The delete is
  the "published" mark: the history stays in ``events``; nothing is rewritten or pruned later.
- Without tracing, rows go to Kafka as record batches built here, one per (topic, partition)
  (``send_batch``), in position order within each: a per-message ``send`` cost ~30-50 µs of CPU
  (metadata wait, size estimate, the pure-Python murmur2 partitioner, a future per message).
  The partition is the producer's default partitioner's choice for the key, as ``send`` would
  make it, computed once per key and batch, so a stream's events stay on one partition whichever
  path sent them. With tracing on, each row is sent on its own within its span. A batch is
  closed before it is sent, so it does not wait out the producer's linger.
- One relay per database is active: it holds a session-level advisory lock; others wait for it.
- With tracing on, each row is sent within the trace context stored with it (``tracing``).
- It wakes on LISTEN/NOTIFY (sent by ``EventStore.append`` at commit) and polls as a fallback.
- A producer whose idempotence state went bad is replaced (``renew``, ADR 0035's addendum):
  aiokafka fails a batch that waited out its timeout for a partition without a leader *after*
  giving it sequence numbers, and never resets them, so every later batch of that partition
  is refused (``OutOfOrderSequenceNumber``) for the producer's life. A new producer has a new
  id and starts its sequences afresh; the rows are still in the queue and go out in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    OutOfOrderSequenceNumber,
    ProducerClosed,
    ProducerFenced,
    UnknownProducerId,
)
from aiokafka.partitioner import DefaultPartitioner

from promptworks_contracts.envelope import kafka_headers
from promptworks_eventkit.eventstore import OUTBOX_CHANNEL
from promptworks_eventkit.gc_pause import gc_paused
from promptworks_eventkit.kafka import stop_quietly
from promptworks_eventkit.metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PRODUCER_RENEWALS,
    OUTBOX_PUBLISHED,
    OUTBOX_RELAY_LATENCY,
)
from promptworks_eventkit.tracing import enabled as tracing_enabled
from promptworks_eventkit.tracing import within

log = structlog.get_logger(__name__)

RELAY_LOCK_KEY = 0x5057_4F42  # "PWOB": one active relay per database
BACKLOG_INTERVAL = 5.0
"""Seconds between two counts of the backlog (a count reads every unpublished row)."""
PRODUCER_STATE_ERRORS = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    ProducerFenced,
    ProducerClosed,
)
"""Failures no retry of the same producer can get past: its id, epoch or sequences are no
longer the broker's (or it is closed)."""
PRODUCER_STOP_SECONDS = 10.0

SELECT_BATCH = """
    SELECT o.position, o.topic, e.stream_id AS key, CAST(e.metadata AS text) AS metadata,
           CAST(e.data AS text) AS value
    FROM outbox AS o JOIN events AS e USING (position) ORDER BY o.position LIMIT $1
"""
# Returns each row's relay latency on the database clock: created (in the event's transaction)
# -> published and deleted.
MARK_PUBLISHED = (
    "DELETE FROM outbox WHERE position = ANY($1::bigint[]) "
    "RETURNING extract(epoch FROM clock_timestamp() - created_at)::float8"
)
BACKLOG = """
    SELECT count(*), coalesce(extract(epoch FROM clock_timestamp() - min(created_at)), 0)::float8
    FROM outbox
"""


class OutboxRelay:
    def __init__(
        self,
        dsn: str,
        producer: AIOKafkaProducer,
        *,
        batch_size: int = 2000,
        poll_interval: float = 1.0,
        renew: Callable[[], Awaitable[AIOKafkaProducer]] | None = None,
    ) -> None:
        """``renew``: makes (and starts) a producer of the relay's own, used in place of the
        current one when that one's idempotence state went bad (``PRODUCER_STATE_ERRORS``);
        without it, the relay retries with the producer it has."""
        self._dsn = dsn
        self._producer = producer
        self._renew = renew
        self._owned: AIOKafkaProducer | None = None
        """The producer ``renew`` made, stopped when replaced or when the relay stops; the one
        given at construction is the caller's."""
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self.active = False

    async def run(self) -> None:
        """Runs until cancelled; reconnects after database or broker failures."""
        try:
            while True:
                try:
                    await self._run_once()
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    self.active = False
                    log.exception("outbox relay failed; retrying")
                    if isinstance(error, PRODUCER_STATE_ERRORS) and self._renew is not None:
                        await self._replace_producer(error)
                    await asyncio.sleep(1.0)
        finally:
            await self._stop_owned()

    async def _replace_producer(self, error: Exception) -> None:
        """A new producer for the next pass (a failed start is retried at the next failure)."""
        assert self._renew is not None
        try:
            producer = await self._renew()
        except Exception as failure:
            log.warning("a new relay producer could not start", error=repr(failure))
            return
        await self._stop_owned()
        self._producer = self._owned = producer
        OUTBOX_PRODUCER_RENEWALS.inc()
        log.warning("relay producer replaced", reason=type(error).__name__)

    async def _stop_owned(self) -> None:
        owned, self._owned = self._owned, None
        if owned is not None:
            await stop_quietly(owned.stop(), PRODUCER_STOP_SECONDS)

    async def _run_once(self) -> None:
        connection: asyncpg.Connection = await asyncpg.connect(self._dsn)
        try:
            while not await connection.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_KEY):
                self.active = False
                # Standby: another relay is active and reports the backlog.
                OUTBOX_BACKLOG.set(0)
                OUTBOX_OLDEST_AGE.set(0)
                await asyncio.sleep(self._poll_interval)
            self.active = True
            log.info("outbox relay active")
            await connection.add_listener(OUTBOX_CHANNEL, self._on_notify)
            counted_at = 0.0
            while True:
                # Measured before publishing: while Kafka refuses writes (each attempt fails and
                # reconnects), the backlog still shows, growing.
                if time.monotonic() - counted_at >= BACKLOG_INTERVAL:
                    await self.measure_backlog(connection)
                    counted_at = time.monotonic()
                with gc_paused():  # lifted once the batch's rows are freed (gc_pause)
                    published = await self.publish_pending(connection)
                if published < self._batch_size:
                    await self._wait_for_work()
        finally:
            self.active = False
            with contextlib.suppress(Exception):
                await asyncio.shield(connection.close())

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def _wait_for_work(self) -> None:
        with contextlib.suppress(TimeoutError):
            # Not asyncio.wait_for: on 3.11 it can swallow a cancel that races the wake-up.
            async with asyncio.timeout(self._poll_interval):
                await self._wake.wait()
        self._wake.clear()

    async def publish_pending(self, connection: asyncpg.Connection) -> int:
        """Publishes one batch; returns how many rows it published."""
        rows = await connection.fetch(SELECT_BATCH, self._batch_size)
        if not rows:
            return 0
        headers = _headers_of(rows)
        if tracing_enabled():
            sends = [await self._send(row, h) for row, h in zip(rows, headers, strict=True)]
        else:
            sends = await self._send_batches(rows, headers)
        await asyncio.gather(*sends)  # every ack, or an exception and nothing is deleted
        latencies = await connection.fetch(MARK_PUBLISHED, [row["position"] for row in rows])
        OUTBOX_PUBLISHED.inc(len(rows))
        for (latency,) in latencies:
            OUTBOX_RELAY_LATENCY.observe(max(0.0, latency))
        return len(rows)

    async def _send_batches(
        self, rows: list[asyncpg.Record], every_headers: list[Headers]
    ) -> list[asyncio.Future[Any]]:
        """Sends ``rows`` as one record batch per (topic, partition), in position order within each;
        returns the futures of their acknowledgements."""
        groups: dict[tuple[str, int], list[tuple[bytes, asyncpg.Record, Headers]]] = {}
        chosen: dict[tuple[str, bytes], int] = {}
        partitions: dict[str, list[int]] = {}
        for row, headers in zip(rows, every_headers, strict=True):
            topic, key = row["topic"], row["key"].encode()
            partition = chosen.get((topic, key))
            if partition is None:
                if topic not in partitions:
                    # Sorted, as the partitioner expects (this also waits for the metadata).
                    partitions[topic] = sorted(await self._producer.partitions_for(topic))
                every = partitions[topic]
                partition = chosen[(topic, key)] = _PARTITIONER(key, every, every)
            groups.setdefault((topic, partition), []).append((key, row, headers))
        sends: list[asyncio.Future[Any]] = []
        for (topic, partition), members in groups.items():
            batch = self._producer.create_batch()
            for key, row, headers in members:
                value = row["value"].encode()
                record = {"key": key, "value": value, "timestamp": None, "headers": headers}
                if batch.append(**record) is None:  # full: send it, start the next one
                    sends.append(await self._send_closed(batch, topic, partition))
                    batch = self._producer.create_batch()
                    batch.append(**record)  # the first record always fits
            sends.append(await self._send_closed(batch, topic, partition))
        return sends

    async def _send_closed(self, batch: Any, topic: str, partition: int) -> asyncio.Future[Any]:
        """Sends a whole batch. Closed, it leaves at once: an open one lingers ``linger_ms`` for
        records nobody will add (5 ms of every event's relay delay, the relay idle meanwhile)."""
        batch.close()
        sent: asyncio.Future[Any] = await self._producer.send_batch(
            batch, topic, partition=partition
        )
        return sent

    async def _send(self, row: asyncpg.Record, headers: Headers) -> asyncio.Future[Any]:
        # Sent within the context the event was recorded in: the send span continues the
        # request's trace and names itself in the Kafka ``traceparent`` header.
        with within(_trace_of(headers)):
            sent: asyncio.Future[Any] = await self._producer.send(
                row["topic"], value=row["value"].encode(), key=row["key"].encode(), headers=headers
            )
            return sent

    async def measure_backlog(self, connection: asyncpg.Connection) -> None:
        count, oldest_age = await connection.fetchrow(BACKLOG)
        OUTBOX_BACKLOG.set(count)
        OUTBOX_OLDEST_AGE.set(oldest_age)


_PARTITIONER = DefaultPartitioner()
"""The producer's default: murmur2 of the key over every partition of the topic."""


Headers = list[tuple[str, bytes]]


def _trace_of(headers: Headers) -> str | None:
    return next((value.decode() for name, value in headers if name == "ce_traceparent"), None)


def _headers_of(rows: list[asyncpg.Record]) -> list[Headers]:
    """Each row's Kafka headers, from its envelope: the batch's stored JSON texts parsed as one
    array (one parse per batch, not one per row)."""
    every = json.loads("[" + ",".join(row["metadata"] for row in rows) + "]")
    return [kafka_headers(attributes) for attributes in every]
