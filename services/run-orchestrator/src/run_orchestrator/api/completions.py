"""POST /internal/completions: one model call for another PromptWorks service (the
evaluator's judge), through the execution layer's limits, retries and pricing. Service to
service: query-api does not forward it."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, Request

from promptworks_contracts.api.completions import CompletionCallAnswer, CompletionCallRequest
from promptworks_eventkit.http import Context

router = APIRouter(tags=["internal"])


class CompletionCalls(Protocol):
    """What the route needs of ``execution.completions.CompletionCalls``."""

    async def complete(
        self, call: CompletionCallRequest, project: str = ...
    ) -> CompletionCallAnswer: ...


async def _calls(request: Request) -> CompletionCalls:
    calls: CompletionCalls = request.app.state.completion_calls
    return calls


CallsDep = Annotated[CompletionCalls, Depends(_calls)]


@router.post(
    "/internal/completions",
    summary="One model call for another service (limits, retries, pricing as a run's calls)",
)
async def complete(
    body: CompletionCallRequest, calls: CallsDep, context: Context
) -> CompletionCallAnswer:
    # The caller names the project whose catalog the provider is in (X-Project; absent:
    # default), as query-api does for commands.
    return await calls.complete(body, context.project)
