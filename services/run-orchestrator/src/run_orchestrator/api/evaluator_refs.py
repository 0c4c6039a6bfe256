"""A run or batch that names an evaluator version (``evaluator``) instead of inline assertions:
resolved before the command is built (``app`` wires ``adapters.evaluators.EvaluatorVersions``).
Naming both is refused: which assertions apply would otherwise be a guess."""

from __future__ import annotations

from typing import Protocol

from fastapi import Request

from promptworks_contracts.api.evaluators import EvaluatorRefIn
from promptworks_contracts.api.runs import WorkIn
from promptworks_contracts.values import Assertion, EvaluatorPin
from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.http import request_project


class EvaluatorResolver(Protocol):
    async def resolve(
        self, ref: EvaluatorRefIn, project: str, field: str = "evaluator"
    ) -> tuple[EvaluatorPin, list[Assertion]]: ...


async def pinned(request: Request, work: WorkIn) -> tuple[EvaluatorPin, list[Assertion]] | None:
    """The evaluator version ``work`` names, pinned, with its assertions; None if it names none."""
    if work.evaluator is None:
        return None
    if work.assertions or work.json_schema is not None:
        raise DomainError(
            "name an `evaluator` or give `assertions` / `schema`, not both",
            field="evaluator",
            rule="conflict",
        )
    resolver: EvaluatorResolver = request.app.state.evaluator_versions
    return await resolver.resolve(work.evaluator, request_project(request))
