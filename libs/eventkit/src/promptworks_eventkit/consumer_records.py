"""What a consumer runner keeps of a Kafka record, and what it reads of its headers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


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
