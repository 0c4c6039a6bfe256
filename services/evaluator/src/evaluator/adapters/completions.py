"""``CompletionClient`` and ``EmbeddingClient`` over HTTP: run-orchestrator's
``POST /internal/completions`` and ``POST /internal/embeddings``.

The one place the evaluator calls another service: it presents the service credential
(``SERVICE_TOKEN``, ADR 0012), which run-orchestrator demands of every API call.

A call that run-orchestrator answered is returned as it came (a failed model call is an answer
with ``error``). When run-orchestrator cannot be reached, answers 5xx or times out, the call is
tried again with backoff (``attempts`` in all), then answered with an ``error``: the judge
records it as a judge error rather than stopping the evaluation of every other result.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from evaluator.metrics import JUDGE_CALL_DURATION, JUDGE_CALLS
from promptworks_contracts.api.completions import CompletionCallAnswer, CompletionCallRequest
from promptworks_contracts.api.embeddings import EmbeddingCallAnswer, EmbeddingCallRequest
from promptworks_contracts.projects import PROJECT_HEADER

PATH = "/internal/completions"
EMBEDDINGS_PATH = "/internal/embeddings"
Answer = TypeVar("Answer", bound=BaseModel)


class RunOrchestratorCompletions:
    def __init__(
        self,
        base_url: str,
        *,
        service_token: str | None = None,
        timeout_seconds: float = 300.0,
        attempts: int = 3,
        backoff_seconds: float = 0.5,
    ) -> None:
        # One pool per process; the judge's concurrency bounds its connections.
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout_seconds)
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._headers = {"content-type": "application/json"}
        if service_token:
            self._headers["authorization"] = f"Bearer {service_token}"

    async def complete(self, call: CompletionCallRequest, project: str) -> CompletionCallAnswer:
        """In ``project``: run-orchestrator looks the judge's provider up in that project's
        catalog (``X-Project``, trusted from the service credential's holder)."""
        started = time.perf_counter()
        answer = await self._complete(call, {**self._headers, PROJECT_HEADER: project})
        JUDGE_CALL_DURATION.observe(time.perf_counter() - started)
        JUDGE_CALLS.labels("ok" if answer.error is None else "error").inc()
        return answer

    async def embed(self, call: EmbeddingCallRequest, project: str) -> EmbeddingCallAnswer:
        """Texts embedded in ``project``'s provider; never raises (``error`` says why)."""
        body = call.model_dump_json()
        headers = {**self._headers, PROJECT_HEADER: project}
        answer, problem = await self._post(EMBEDDINGS_PATH, body, headers, EmbeddingCallAnswer)
        return answer or EmbeddingCallAnswer(error=problem, latency_ms=0.0)

    async def _complete(
        self, call: CompletionCallRequest, headers: dict[str, str]
    ) -> CompletionCallAnswer:
        body = call.model_dump_json(by_alias=True)
        answer, problem = await self._post(PATH, body, headers, CompletionCallAnswer)
        return answer or CompletionCallAnswer(error=problem, latency_ms=0.0)

    async def _post(
        self, path: str, body: str, headers: dict[str, str], answer_type: type[Answer]
    ) -> tuple[Answer | None, str]:
        """The answer, or None and why there is none (after the retries)."""
        problem = "not sent"
        for attempt in range(1, self._attempts + 1):
            try:
                response = await self._client.post(path, content=body, headers=headers)
            except httpx.HTTPError as error:
                problem = f"run-orchestrator unreachable: {type(error).__name__}"
            else:
                if response.status_code == 200:
                    try:
                        return answer_type.model_validate_json(response.content), ""
                    except ValidationError:
                        return None, "run-orchestrator answered a malformed body"
                problem = f"run-orchestrator answered {response.status_code}: {_detail(response)}"
                if response.status_code < 500:
                    break  # refused (unknown provider ...): asking again changes nothing
            if attempt < self._attempts:
                await asyncio.sleep(random.uniform(0, self._backoff * 2 ** (attempt - 1)))
        return None, problem

    async def aclose(self) -> None:
        await self._client.aclose()


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail)[:300] if detail else response.text[:200]
