"""POST /internal/embeddings: texts embedded for another PromptWorks service (the evaluator's
``embedding_similarity`` check), through the execution layer's limits, retries and pricing.
Service to service: query-api does not forward it."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, Request

from promptworks_contracts.api.embeddings import EmbeddingCallAnswer, EmbeddingCallRequest
from promptworks_eventkit.http import Context

router = APIRouter(tags=["internal"])


class EmbeddingCalls(Protocol):
    async def embed(
        self, call: EmbeddingCallRequest, project: str = ...
    ) -> EmbeddingCallAnswer: ...


async def _calls(request: Request) -> EmbeddingCalls:
    calls: EmbeddingCalls = request.app.state.embedding_calls
    return calls


CallsDep = Annotated[EmbeddingCalls, Depends(_calls)]


@router.post(
    "/internal/embeddings",
    summary="Texts embedded for another service (limits, retries, pricing as a run's calls)",
)
async def embed(
    body: EmbeddingCallRequest, calls: CallsDep, context: Context
) -> EmbeddingCallAnswer:
    # The caller names the project whose catalog the provider is in (X-Project).
    return await calls.embed(body, context.project)
