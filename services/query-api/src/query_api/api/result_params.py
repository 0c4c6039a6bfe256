"""Query parameters that filter runs, and a run's results (the paged list and the export)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Query

from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.http import MAX_INT32
from query_api.queries.result_filters import ResultFilter
from query_api.queries.run_filters import DEFAULT_SORT, RunFilter, RunSort


async def result_filter(
    passed: Annotated[
        bool | None,
        Query(description="true: results that passed; false: failed calls or failed checks"),
    ] = None,
    failed_check: Annotated[
        str | None, Query(max_length=200, description="Only results where this check failed")
    ] = None,
    case_index: Annotated[int | None, Query(ge=0, le=MAX_INT32)] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Text in the output (case-insensitive)")
    ] = None,
) -> ResultFilter:
    return ResultFilter(passed=passed, failed_check=failed_check, case_index=case_index, q=q)


ResultFilters = Annotated[ResultFilter, Depends(result_filter)]

EvaluationParam = Annotated[
    UUID | None,
    Query(
        description="Which evaluation of the run (`GET /test_prompt/{id}/evaluations`): its id, "
        "or the run's id for its first; default: the latest"
    ),
]


async def run_filter(
    provider: Annotated[str | None, Query(max_length=200)] = None,
    model_name: Annotated[str | None, Query(max_length=200)] = None,
    created_after: Annotated[
        datetime | None, Query(description="Created at or after (ISO 8601 with a zone)")
    ] = None,
    created_before: Annotated[datetime | None, Query(description="Created before")] = None,
    sort: Annotated[
        RunSort, Query(description="`-` first: descending; unfinished runs last on finished_at")
    ] = DEFAULT_SORT,
) -> RunFilter:
    return RunFilter(
        provider,
        model_name,
        aware("created_after", created_after),
        aware("created_before", created_before),
        sort,
    )


def aware(name: str, value: datetime | None) -> datetime | None:
    """The instant in UTC; a time without a zone, or one that has no UTC instant (year 1 at
    +14:00), is a 422 naming the parameter."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise DomainError(f"{name} needs a time zone (e.g. Z)", field=name, rule="timezone")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise DomainError(f"{name} is out of range", field=name, rule="range") from None


RunFilters = Annotated[RunFilter, Depends(run_filter)]
