"""The evaluator version a run names, asked of the evaluator (``GET /evaluators/{id}/versions/
{n|latest}``), which owns evaluator definitions: its answer is authoritative at once (no read
model to lag behind a definition just made). The run then carries the version's assertions
and the pin in its ``RunCreated``: later versions never change it.

Presents the service credential, as every call between services does (ADR 0012).
"""

from __future__ import annotations

import httpx
from fastapi import HTTPException
from pydantic import ValidationError

from promptworks_contracts.api.evaluators import EvaluatorRefIn, EvaluatorVersionAnswer
from promptworks_contracts.projects import PROJECT_HEADER
from promptworks_contracts.values import RECORDED, Assertion, EvaluatorPin
from promptworks_eventkit.errors import NotFoundError


class EvaluatorVersions:
    def __init__(
        self, base_url: str, *, service_token: str | None = None, timeout_seconds: float = 10.0
    ) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout_seconds)
        self._headers = {"authorization": f"Bearer {service_token}"} if service_token else {}

    async def resolve(
        self, ref: EvaluatorRefIn, project: str, field: str = "evaluator"
    ) -> tuple[EvaluatorPin, list[Assertion]]:
        """The pinned version of ``project``'s evaluator and its assertions; 404 naming
        ``field.<...>`` when unknown (another project's is unknown), 503 when the evaluator
        cannot answer (nothing is written)."""
        path = f"/evaluators/{ref.evaluator_id}/versions/{ref.version}"
        headers = {**self._headers, PROJECT_HEADER: project}
        try:
            response = await self._client.get(path, headers=headers)
        except httpx.HTTPError as error:
            raise HTTPException(
                503, "the evaluator is unreachable, so the run was not created; try again"
            ) from error
        if response.status_code == 404:
            which = "version" if ref.version != "latest" and _names_version(response) else None
            raise NotFoundError(
                f"evaluator {ref.evaluator_id} "
                + (f"has no version {ref.version}" if which else "does not exist"),
                field=f"{field}.{which or 'evaluator_id'}",
            )
        if response.status_code != 200:
            raise HTTPException(
                503, f"the evaluator answered {response.status_code}; the run was not created"
            )
        try:
            # Versions were valid when defined: read them as recorded facts.
            answer = EvaluatorVersionAnswer.model_validate_json(response.content, context=RECORDED)
        except ValidationError as error:
            raise HTTPException(503, "the evaluator answered a malformed version") from error
        pin = EvaluatorPin(evaluator_id=answer.evaluator_id, version=answer.version)
        return pin, answer.assertions

    async def aclose(self) -> None:
        await self._client.aclose()


def _names_version(response: httpx.Response) -> bool:
    try:
        errors = response.json().get("errors") or []
    except ValueError:
        return False
    return bool(errors) and errors[0].get("field") == "version"
