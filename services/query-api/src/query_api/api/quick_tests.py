"""/api/v1/quick-test: one call to try a prompt version, relayed to run-orchestrator; with
``stream`` the server-sent events flow through as the model writes. Recorded there as usage
(``promptworks.quick_test.completed.v1``), not as a run; /api/v1/quick-tests reads that
history back (the original product's quick-test history)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response

from promptworks_contracts.api.runs import QuickTestRequest
from promptworks_eventkit.errors import NotFoundError
from query_api.api import paging
from query_api.api.deps import CURSOR_HEADERS, Project, ReadSession, Settings, Writes
from query_api.api.ownership import owned
from query_api.queries import quick_tests as queries
from query_api.schemas.quick_tests import QuickTestOut
from query_api.tables import quick_tests

router = APIRouter(
    tags=["quick test"], dependencies=[owned(quick_tests, "quick_test_id", "quick test")]
)

QuickTestId = Annotated[UUID, Path(description="The quick test's id (`quick_test_id`)")]
NameFilter = Annotated[str | None, Query(max_length=200)]


@router.post(
    "/quick-test",
    summary="Try a prompt version once (whole, or streamed as server-sent events)",
    responses={
        200: {
            "description": "The recorded call (JSON), or with `stream` a text/event-stream of "
            '`delta` events (`{"text"}`) and one `done` event with the record (usage, cost)',
            "content": {"text/event-stream": {}},
        },
        422: {"description": "Refused before any call: `errors` names the field"},
        503: {"description": "run-orchestrator is unreachable"},
    },
)
async def quick_test(
    request: Request, writes: Writes, settings: Settings, body: QuickTestRequest
) -> Response:
    url = f"{settings.run_orchestrator_url.rstrip('/')}/quick-test"
    return await writes.relay_stream(request, "run-orchestrator", url)


@router.get(
    "/quick-tests",
    response_model=list[QuickTestOut],
    responses={200: {"headers": CURSOR_HEADERS}},
    summary="The quick-test history",
)
async def list_quick_tests(
    session: ReadSession,
    project: Project,
    request: Request,
    response: Response,
    prompt_id: UUID | None = None,
    provider: NameFilter = None,
    model_name: NameFilter = None,
    failed: Annotated[
        bool | None, Query(description="true: only failed calls; false: only answered ones")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: paging.Offset = 0,
    cursor: paging.CursorParam = None,
) -> list[QuickTestOut]:
    """The project's quick tests, newest first, each with its output (or error), usage and
    cost. A quick test is readable here once query-api has applied its event (moments after
    `POST /quick-test` answers)."""
    first = paging.start(request, "quick-tests", offset, cursor)
    conditions = queries.where(project, prompt_id, provider, model_name, failed)
    total, items = await queries.list_quick_tests(session, conditions, limit, first)
    paging.finish(response, request, "quick-tests", first, len(items), total)
    return items


@router.get("/quick-tests/{quick_test_id}", response_model=QuickTestOut, summary="One quick test")
async def get_quick_test(session: ReadSession, quick_test_id: QuickTestId) -> QuickTestOut:
    found = await queries.get_quick_test(session, quick_test_id)
    if found is None:
        raise NotFoundError(f"quick test {quick_test_id} does not exist", field="quick_test_id")
    return found
