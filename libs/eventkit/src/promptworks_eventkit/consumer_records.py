"""What a consumer runner keeps of a Kafka record, what it reads of its headers, and the
events it decodes from a batch of them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from promptworks_contracts.envelope import Envelope
from promptworks_contracts.events import decode_event
from promptworks_eventkit.messages import ReceivedEvent


@dataclass(frozen=True)
class ConsumedRecord:
    """A record copied out of aiokafka's, with its logical topic (without the prefix)."""

    topic: str
    physical_topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Sequence[tuple[str, bytes]]
    timestamp: int
    """The producer's timestamp, milliseconds since the epoch."""


def header(record: ConsumedRecord, name: str) -> str | None:
    """The first header ``name`` as text (undecodable bytes replaced), or None."""
    for key, value in record.headers:
        if key == name:
            return value.decode("utf-8", errors="replace")
    return None


def correlations(records: Sequence[ConsumedRecord], most: int = 5) -> list[str]:
    """The distinct correlation ids of a batch's events (a few): what to search the logs for."""
    found: dict[str, None] = {}
    for record in records:
        correlation = header(record, "ce_correlationid")
        if correlation is not None:
            found[correlation] = None
            if len(found) == most:
                break
    return list(found)


def decode(
    records: Sequence[ConsumedRecord], handles: Callable[[str], bool]
) -> tuple[dict[int, ReceivedEvent], dict[int, str]]:
    """By ``id`` of the record: the events of the types the consumer ``handles`` (the others
    are left out: their offsets just move past them), and why each undecodable one is poison."""
    decoded: dict[int, ReceivedEvent] = {}
    poison: dict[int, str] = {}
    for record in records:
        try:
            envelope = Envelope.from_kafka_headers(record.headers)
            if not handles(envelope.type):
                continue
            event = decode_event(envelope.type, record.value)
        except Exception as error:
            poison[id(record)] = f"undecodable: {error}"
            continue
        decoded[id(record)] = ReceivedEvent(
            record.topic, record.partition, record.offset, envelope, event
        )
    return decoded, poison
