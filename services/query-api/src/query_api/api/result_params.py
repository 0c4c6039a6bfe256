"""The query parameters that filter a run's results (the paged list and the export)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from promptworks_eventkit.http import MAX_INT32
from query_api.queries.result_filters import ResultFilter


def result_filter(
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
