"""``consumer_positions.gaps``: which partitions of a fetched batch do not start at the
runner's next offset (ADR 0035). Pure: records are anything with an ``offset``."""

from __future__ import annotations

from dataclasses import dataclass

from promptworks_eventkit.consumer_positions import Gap, gaps


@dataclass(frozen=True)
class Record:
    offset: int


def records(*offsets: int) -> list[Record]:
    return [Record(offset) for offset in offsets]


def test_records_that_start_at_the_next_offset_are_no_gap() -> None:
    assert gaps({"a": records(5, 6, 7)}, {"a"}, {"a": 5}) == []


def test_duplicates_below_the_next_offset_are_passed_over_not_a_gap() -> None:
    # aiokafka may hand records over twice; those below the next offset were applied.
    assert gaps({"a": records(3, 4, 5, 6)}, {"a"}, {"a": 5}) == []
    assert gaps({"a": records(3, 4)}, {"a"}, {"a": 5}) == []


def test_new_records_that_start_past_the_next_offset_are_a_gap() -> None:
    assert gaps({"a": records(3, 8, 9)}, {"a"}, {"a": 5}) == [Gap("a", 5, 8)]


def test_an_unknown_next_offset_is_a_gap_whatever_the_records() -> None:
    assert gaps({"a": records(0, 1)}, {"a"}, {}) == [Gap("a", None, 0)]


def test_partitions_not_owned_or_without_records_are_left_out() -> None:
    batch = {"a": records(9), "b": [], "c": records(1)}
    assert gaps(batch, {"b", "c"}, {"a": 0, "c": 1}) == []


def test_every_partition_with_a_gap_is_named() -> None:
    batch = {"a": records(2), "b": records(7), "c": records(4)}
    found = gaps(batch, {"a", "b", "c"}, {"a": 2, "b": 5})
    assert found == [Gap("b", 5, 7), Gap("c", None, 4)]
