"""HTTP request and response bodies of run-orchestrator.

``CreateRunRequest`` is the body query-api forwards from the public ``POST
/api/v1/test_prompt``, so it keeps the original product's field names (``model_name``,
``repetitions``, ``schema`` ...).
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from promptworks_contracts.values import (
    Assertion,
    JsonSchemaAssertion,
    ModelParameters,
    ModelRef,
)
from promptworks_eventkit.http import JsonFloat, JsonInt, PositionOut
from run_orchestrator.domain.commands import MAX_CASES, MAX_REPETITIONS, CreateRun
from run_orchestrator.settings import MOCK_PROVIDER, PROVIDER_NAME_PATTERN


class CreateRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    prompt_version_id: UUID
    provider: str = Field(
        default=MOCK_PROVIDER, min_length=1, max_length=64, pattern=PROVIDER_NAME_PATTERN
    )
    model_name: str = Field(default="echo", min_length=1, max_length=200)
    model_version: str | None = Field(default=None, max_length=100)
    temperature: JsonFloat = Field(default=0.7, ge=0.0, le=2.0)
    top_p: JsonFloat = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: JsonInt | None = Field(default=None, ge=1, le=1_000_000)
    seed: JsonInt | None = None
    stop: list[str] | None = Field(default=None, max_length=4)
    repetitions: JsonInt = Field(default=1, ge=1, le=MAX_REPETITIONS)
    cases: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=MAX_CASES,
        description="Variable values per case; empty means one case without variables.",
    )
    assertions: list[Assertion] = Field(default_factory=list, max_length=100)
    json_schema: dict[str, Any] | None = Field(
        default=None,
        alias="schema",
        description="A JSON Schema every output must match (becomes a json_schema assertion).",
    )
    notes: str | None = Field(default=None, max_length=5000)
    batch_id: str | None = Field(default=None, max_length=200)

    def command(self) -> CreateRun:
        assertions = list(self.assertions)
        if self.json_schema is not None:
            assertions.append(JsonSchemaAssertion(type="json_schema", json_schema=self.json_schema))
        return CreateRun(
            prompt_version_id=self.prompt_version_id,
            model=ModelRef(
                provider=self.provider, name=self.model_name, version=self.model_version
            ),
            parameters=ModelParameters(
                temperature=self.temperature,
                top_p=self.top_p,
                max_tokens=self.max_tokens,
                seed=self.seed,
                stop=self.stop,
            ),
            repetitions=self.repetitions,
            cases=self.cases,
            assertions=assertions,
            notes=self.notes,
            batch_id=self.batch_id,
        )


class RunCreatedResponse(BaseModel):
    run_id: UUID
    status: Literal["pending"]
    total_calls: int
    stream_version: int = Field(
        description="The run stream's version after RunCreated (kept for compatibility; "
        "`positions` is the answer readers wait on)"
    )
    positions: list[PositionOut] = Field(
        description="Every stream the command appended to: what query-api waits on "
        "(read your writes)"
    )


class ProviderResponse(BaseModel):
    name: str
    kind: str
