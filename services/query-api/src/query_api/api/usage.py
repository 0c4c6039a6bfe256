"""/api/v1/usage: calls, tokens and cost of the model calls of runs and quick tests, per
provider, model and prompt, and per UTC day (the original product's usage screens)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from promptworks_eventkit.errors import DomainError
from query_api.api.deps import Project, ReadSession
from query_api.api.result_params import aware
from query_api.queries import usage as queries
from query_api.schemas.usage import UsageOverview, UsageSeries

router = APIRouter(prefix="/usage", tags=["usage"])

Start = Annotated[
    datetime | None, Query(description="From this time (inclusive, ISO 8601 with a zone)")
]
End = Annotated[datetime | None, Query(description="Until this time (exclusive)")]


def _window(
    start: datetime | None, end: datetime | None
) -> tuple[datetime | None, datetime | None]:
    start, end = aware("start", start), aware("end", end)
    if start is not None and end is not None and end <= start:
        raise DomainError("end must be after start", field="end", rule="window")
    return start, end


@router.get("/overview", response_model=UsageOverview, summary="Usage totals per model and prompt")
async def overview(
    session: ReadSession, project: Project, start: Start = None, end: End = None
) -> UsageOverview:
    """Calls (failed, cached, without a price), tokens and cost per currency: in total, per
    provider and model, and per prompt, over the calls made in [start, end): the runs'
    results and the quick tests (`quick_test_calls` counts those)."""
    start, end = _window(start, end)
    return await queries.overview(session, project, start, end)


@router.get("/timeseries", response_model=UsageSeries, summary="Usage per UTC day")
async def timeseries(
    session: ReadSession,
    project: Project,
    start: Start = None,
    end: End = None,
    provider: Annotated[str | None, Query(max_length=200)] = None,
    model_name: Annotated[str | None, Query(max_length=200)] = None,
    prompt_id: UUID | None = None,
) -> UsageSeries:
    """The same figures per UTC day (days without calls are left out), optionally for one
    provider, model or prompt."""
    start, end = _window(start, end)
    return await queries.daily(session, project, start, end, provider, model_name, prompt_id)
