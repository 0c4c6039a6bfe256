"""Where a fetched batch's records start against the runner's next offsets (ADR 0035).

A partition's records are applied only from its next offset: the one after the last applied,
as stored with the effects. Event topics have no gaps of their own (no transactions, no
compaction), so a batch whose new records start later than that was fetched from a position
that ran ahead (Kafka's group offset after a failed seek), and one whose next offset is unknown
was fetched before any seek succeeded. ``gaps`` names both; the runner decides with the broker
whether a gap is real (the records before it still exist) or the log's start moved past it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar


class _Record(Protocol):
    @property
    def offset(self) -> int: ...


Partition = TypeVar("Partition")


@dataclass(frozen=True)
class Gap:
    partition: Any
    expected: int | None
    """The next offset the runner would apply; None when no seek has set it yet."""
    first: int
    """The first new record's offset in the batch."""


def gaps(
    batch: Mapping[Partition, Sequence[_Record]],
    owned: AbstractSet[Partition],
    next_offsets: Mapping[Partition, int],
) -> list[Gap]:
    """Each owned partition of ``batch`` whose new records (those at or past its next offset)
    do not start at that offset, or whose next offset is unknown. A partition with only records
    below its next offset (duplicates) or none is not one."""
    found: list[Gap] = []
    for partition, records in batch.items():
        if partition not in owned or not records:
            continue
        expected = next_offsets.get(partition)
        if expected is None:
            found.append(Gap(partition, None, records[0].offset))
            continue
        first = next((r.offset for r in records if r.offset >= expected), None)
        if first is not None and first != expected:
            found.append(Gap(partition, expected, first))
    return found
