"""Pure parts of the run and result filters: times need a zone and a UTC instant, the text
filter matches literally. No infrastructure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects import postgresql

from promptworks_eventkit.errors import DomainError
from query_api.api.result_params import aware
from query_api.queries.result_filters import ResultFilter


def test_times_need_a_zone_and_an_instant() -> None:
    plus_two = datetime(2026, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    assert aware("start", plus_two) == datetime(2026, 1, 1, tzinfo=UTC)
    assert aware("start", None) is None
    with pytest.raises(DomainError) as naive:
        aware("start", datetime(2026, 1, 1))
    assert naive.value.field == "start"
    with pytest.raises(DomainError) as early:
        aware("created_after", datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))))
    assert early.value.field == "created_after"


def test_the_text_filter_matches_wildcards_literally() -> None:
    [condition] = ResultFilter(q="50%_off\\").conditions()
    compiled = condition.compile(dialect=postgresql.dialect())
    assert list(compiled.params.values()) == ["%50\\%\\_off\\\\%"]
    assert "ILIKE" in str(compiled).upper()
