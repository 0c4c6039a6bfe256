"""/api/v1/quick-test: one call to try a prompt version, relayed to run-orchestrator; with
``stream`` the server-sent events flow through as the model writes. Recorded there as usage
(``promptworks.quick_test.completed.v1``), not as a run."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from promptworks_contracts.api.runs import QuickTestRequest
from query_api.api.deps import Settings, Writes

router = APIRouter(tags=["quick test"])


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
