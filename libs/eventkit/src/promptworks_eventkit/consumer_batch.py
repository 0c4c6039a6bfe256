"""A consumer runner's batch before its transaction: fetched, copied out of aiokafka's records
and decoded, so that the live consumer can do this Python work for the next batch while the
current one's statements run in PostgreSQL (ADR 0026's tenth-session addendum).

What is done ahead depends on nothing the current batch changes: which records are still to
apply (the offsets it commits, the partitions still owned) is decided when the batch's turn
comes, under the runner's batch lock (``ConsumerRunner._process``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from promptworks_contracts.envelope import Envelope
from promptworks_contracts.events import decode_event
from promptworks_eventkit.consumer_records import ConsumedRecord
from promptworks_eventkit.gc_pause import gc_paused
from promptworks_eventkit.messages import ReceivedEvent

SLICE = 256
"""Records unpacked (by aiokafka's ``getmany``) and decoded at a time before the event loop is
let go: a few ms of CPU, so that the current batch's round trips are answered between slices."""


@dataclass
class FetchedBatch:
    """One fetch, per partition in offset order, with the runner's counters when it began: a
    batch fetched across an assignment or a seek is dropped and read again."""

    generation: int
    seeks: int
    records: dict[TopicPartition, list[ConsumedRecord]] = field(default_factory=dict)
    decoded: dict[int, ReceivedEvent] = field(default_factory=dict)
    """By ``id`` of the record (the batch keeps every record alive, so ids are not reused)."""
    poison: dict[int, str] = field(default_factory=dict)
    """By ``id`` of the record: why it goes to the dead letters."""
    pause: ExitStack = field(default_factory=ExitStack)
    """The collector paused (``gc_pause``) from its first records until the runner, done with
    the batch and holding it no more, closes this."""

    def __len__(self) -> int:
        return sum(len(records) for records in self.records.values())


def copy_records(
    batch: dict[TopicPartition, list[Any]], logical_topic: Callable[[str], str]
) -> dict[TopicPartition, list[ConsumedRecord]]:
    """aiokafka's records as ``ConsumedRecord`` (logical topic beside the physical one)."""
    return {
        tp: [
            ConsumedRecord(
                topic=logical_topic(tp.topic),
                physical_topic=tp.topic,
                partition=tp.partition,
                offset=m.offset,
                key=m.key,
                value=m.value,
                headers=list(m.headers or ()),
                timestamp=m.timestamp,
            )
            for m in messages
        ]
        for tp, messages in batch.items()
    }


def decode_into(
    fetched: FetchedBatch, records: list[ConsumedRecord], handles: Callable[[str], bool]
) -> None:
    """Each record's event into ``fetched.decoded``, or why not into ``fetched.poison``; a
    record of a type the consumer does not handle goes in neither (only its offset moves)."""
    for record in records:
        try:
            envelope = Envelope.from_kafka_headers(record.headers)
            if not handles(envelope.type):
                continue  # not this consumer's business: just move the offset past it
            event = decode_event(envelope.type, record.value)
        except Exception as error:
            fetched.poison[id(record)] = f"undecodable: {error}"
            continue
        fetched.decoded[id(record)] = ReceivedEvent(
            record.topic, record.partition, record.offset, envelope, event
        )


async def fetch_batch(
    consumer: AIOKafkaConsumer,
    fetched: FetchedBatch,
    *,
    max_records: int,
    timeout_ms: int,
    logical_topic: Callable[[str], str],
    handles: Callable[[str], bool],
) -> FetchedBatch | None:
    """Up to ``max_records`` into ``fetched``, ``SLICE`` at a time, each slice copied and
    decoded before the next is taken and the event loop let go between them; None if nothing
    came within ``timeout_ms``. The first slice waits; the rest take what is buffered, as one
    ``getmany`` of ``max_records`` would."""
    wait_ms = timeout_ms
    taken = 0
    try:
        while taken < max_records:
            part = await consumer.getmany(
                timeout_ms=wait_ms, max_records=min(SLICE, max_records - taken)
            )
            if not part:
                break
            if not taken:
                fetched.pause.enter_context(gc_paused())
            for tp, records in copy_records(part, logical_topic).items():
                fetched.records.setdefault(tp, []).extend(records)
                decode_into(fetched, records, handles)
                taken += len(records)
            del part
            wait_ms = 0
            await asyncio.sleep(0)  # the current batch's answers, if any, before the next slice
    except BaseException:
        fetched.pause.close()
        raise
    return fetched if taken else None


async def dropped(task: asyncio.Task[FetchedBatch | None] | None) -> None:
    """A fetch ahead cancelled and waited for (a failure of it is of no use any more; a batch
    it fetched is let go, and the collector with it); the caller's own cancellation still
    propagates."""
    if task is None:
        return
    task.cancel()
    await asyncio.wait([task])
    if task.cancelled() or task.exception() is not None:
        return  # the exception retrieved: not logged as "never retrieved"
    fetched = task.result()
    if fetched is not None:
        fetched.pause.close()
