"""POST /quick-test: one call, answered whole (JSON) or as server-sent events.

The stream: ``event: delta`` (``{"text": ...}``) as the model writes, then one ``event:
done`` with the recorded QuickTestCompleted (usage, cost, latency; ``error`` when the call
failed). Anything refused before the call is an ordinary problem answer (4xx), not a stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError

from promptworks_contracts.api.runs import QuickTestRequest
from promptworks_contracts.events import QuickTestCompleted
from promptworks_contracts.projects import DEFAULT_PROJECT
from promptworks_eventkit.actor import Actor
from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.http import Context
from promptworks_eventkit.messages import MessageContext
from run_orchestrator.api.requests import model_ref, overrides, selector
from run_orchestrator.domain.commands import QuickTest
from run_orchestrator.providers.base import Completion
from run_orchestrator.providers.streaming import TextDelta

router = APIRouter(tags=["quick test"])


class QuickTests(Protocol):
    """What the route needs of the quick-test runner (``execution.quick_tests``)."""

    async def prepare(self, command: QuickTest, project: str = DEFAULT_PROJECT) -> Any: ...

    def run(
        self, test: Any, actor: str, context: MessageContext, *, streamed: bool
    ) -> AsyncIterator[TextDelta | Completion | QuickTestCompleted]: ...


async def _quick_tests(request: Request) -> QuickTests:
    quick_tests: QuickTests = request.app.state.quick_tests
    return quick_tests


QuickTestsDep = Annotated[QuickTests, Depends(_quick_tests)]


def _command(body: QuickTestRequest) -> QuickTest:
    try:
        return QuickTest(
            version=selector(body),
            model=model_ref(body),
            parameters=overrides(body),
            variables=body.variables,
        )
    except ValidationError as error:
        first = error.errors()[0]
        raise DomainError(
            first["msg"], field=".".join(str(p) for p in first["loc"]), rule=first["type"]
        ) from error


def _sse(event: str, data: str) -> bytes:
    return f"event: {event}\ndata: {data}\n\n".encode()


@router.post(
    "/quick-test",
    responses={
        200: {
            "description": "The recorded call (JSON), or with `stream` a text/event-stream of "
            "`delta` events and one `done` event carrying the same record",
            "content": {"text/event-stream": {}},
        }
    },
)
async def quick_test(
    body: QuickTestRequest, quick_tests: QuickTestsDep, actor: Actor, context: Context
) -> Response:
    prepared = await quick_tests.prepare(_command(body), context.project)
    parts = quick_tests.run(prepared, actor, context, streamed=body.stream)
    if not body.stream:
        async for part in parts:
            if isinstance(part, QuickTestCompleted):
                return JSONResponse(part.model_dump(mode="json"))
        raise AssertionError("a quick test always ends with its record")

    async def events() -> AsyncIterator[bytes]:
        async for part in parts:
            if isinstance(part, TextDelta):
                yield _sse("delta", json.dumps({"text": part.text}, ensure_ascii=False))
            elif isinstance(part, QuickTestCompleted):
                yield _sse("done", part.model_dump_json())

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
