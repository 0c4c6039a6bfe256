"""Request bodies of evaluator definitions: ``POST /evaluators`` (a named evaluator with its
first version), ``POST /evaluators/{id}/versions`` (a new immutable version), and the reference
a run or batch gives instead of inline assertions (``EvaluatorRefIn``).

A version's ``assertions`` are the same ``Assertion`` union a run takes, validated the same way:
an invalid regex or JSON Schema, or a judge with duplicate dimensions, is a 422 naming
``assertions.<i>...``. Judges (``llm_judge``) and thresholds live inside the assertions.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import ConfigDict, Field

from promptworks_contracts.api.prompts import Body, Message, Name
from promptworks_contracts.values import Assertion

MAX_EVALUATOR_ASSERTIONS = 100
MAX_VERSION = 2**31 - 1
"""Versions are PostgreSQL ``integer``s: a larger number is a 422 naming ``version``, not an
overflow in the database."""

Assertions = list[Assertion]


class CreateEvaluatorRequest(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "support-answers",
                    "description": "Polite, on topic, short",
                    "assertions": [
                        {"type": "icontains", "value": "thank"},
                        {"type": "max_latency_ms", "threshold": 2000},
                    ],
                    "message": "first rules",
                }
            ]
        },
    )

    name: Name = Field(description="Unique among evaluators.")
    description: str = Field(default="", max_length=5000)
    assertions: Assertions = Field(min_length=1, max_length=MAX_EVALUATOR_ASSERTIONS)
    message: Message = ""


class CreateEvaluatorVersionRequest(Body):
    """A new immutable version; it becomes the evaluator's latest. Earlier versions stay."""

    assertions: Assertions = Field(min_length=1, max_length=MAX_EVALUATOR_ASSERTIONS)
    message: Message = ""


class EvaluatorRefIn(Body):
    """An evaluator version a run is evaluated with (instead of inline ``assertions``)."""

    evaluator_id: UUID
    version: Annotated[int, Field(ge=1, le=MAX_VERSION)] | Literal["latest"] = Field(
        default="latest",
        description="A version number, or `latest`: resolved when the run is created and "
        "pinned in its snapshot.",
    )


class EvaluatorVersionAnswer(Body):
    """The evaluator's answer to ``GET /evaluators/{id}/versions/{n|latest}`` (service to
    service: run-orchestrator pins a run's evaluator with it)."""

    model_config = ConfigDict(extra="ignore")

    evaluator_id: UUID
    version: int = Field(ge=1)
    assertions: Assertions


class ReevaluateRequest(EvaluatorRefIn):
    """``POST /test_prompt/{id}/evaluations``: evaluate a finished run's recorded results again
    with an evaluator version, without calling the model again. Asking again for the same run
    and version answers the evaluation already made (it is not made twice)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"evaluator_id": "00000000-0000-0000-0000-000000000000", "version": 2}]
        },
    )
