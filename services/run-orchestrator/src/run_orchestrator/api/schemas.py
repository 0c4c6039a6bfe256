"""HTTP request and response bodies of run-orchestrator.

``CreateRunRequest`` is the body query-api forwards from the public ``POST
/api/v1/test_prompt``, so it keeps the original product's field names (``model_name``,
``repetitions``, ``schema`` ...). Parameters left out (null) come from the version's
``default_parameters``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from promptworks_contracts.values import (
    Assertion,
    JsonSchemaAssertion,
    ModelParameters,
    ModelPricing,
    ModelRef,
    Money,
)
from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.http import JsonFloat, JsonInt, PositionOut
from run_orchestrator.domain.cases import (
    MAX_CASES_TEXT_CHARS,
    Case,
    CaseFormat,
    case_from_json,
    parse_cases,
)
from run_orchestrator.domain.commands import MAX_CASES, MAX_REPETITIONS, CreateRun, VersionSelector
from run_orchestrator.settings import MOCK_PROVIDER, PROVIDER_NAME_PATTERN


class CreateRunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    prompt_version_id: UUID | None = Field(
        default=None, description="The version to run; or name `prompt_id` and `label`."
    )
    prompt_id: UUID | None = None
    label: str | None = Field(
        default=None,
        max_length=50,
        description="A label of `prompt_id` (`production`, ...), or `latest` for its highest "
        "version; resolved when the run is created and kept in its snapshot.",
    )
    provider: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=PROVIDER_NAME_PATTERN,
        description="Defaults to the version's default model's provider, else `mock`.",
    )
    model_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Defaults to the version's default model, else the mock's `echo`.",
    )
    model_version: str | None = Field(default=None, max_length=100)
    temperature: JsonFloat | None = Field(default=None, ge=0.0, le=2.0)
    top_p: JsonFloat | None = Field(default=None, gt=0.0, le=1.0)
    max_tokens: JsonInt | None = Field(default=None, ge=1, le=1_000_000)
    seed: JsonInt | None = None
    stop: list[str] | None = Field(default=None, max_length=4)
    repetitions: JsonInt = Field(default=1, ge=1, le=MAX_REPETITIONS)
    cases: list[dict[str, Any]] = Field(
        default_factory=list,
        max_length=MAX_CASES,
        description="Per case, its variables; or `{variables, expected, metadata}`. Empty "
        "means one case without variables.",
    )
    cases_text: str | None = Field(
        default=None,
        max_length=MAX_CASES_TEXT_CHARS,
        description="Cases as an uploaded file's text, in `cases_format` (instead of `cases`).",
    )
    cases_format: CaseFormat | None = Field(
        default=None,
        description="`csv`: a header of variable names, an `expected` column, `metadata.<key>` "
        "columns; `jsonl`: one case object per line.",
    )
    assertions: list[Assertion] = Field(default_factory=list, max_length=100)
    json_schema: dict[str, Any] | None = Field(
        default=None,
        alias="schema",
        description="A JSON Schema every output must match (becomes a json_schema assertion).",
    )
    notes: str | None = Field(default=None, max_length=5000)
    batch_id: str | None = Field(default=None, max_length=200)
    budget: Decimal | None = Field(
        default=None,
        gt=0,
        max_digits=24,
        decimal_places=12,
        description="Stop the run when its spend reaches this amount (the model's currency; "
        "needs a priced model).",
    )

    def command(self) -> CreateRun:
        assertions = list(self.assertions)
        if self.json_schema is not None:
            assertions.append(JsonSchemaAssertion(type="json_schema", json_schema=self.json_schema))
        return CreateRun(
            version=self._selector(),
            model=self._model(),
            parameters=self.model_dump(include=PARAMETER_FIELDS, exclude_none=True),
            repetitions=self.repetitions,
            cases=self._cases(),
            assertions=assertions,
            notes=self.notes,
            batch_id=self.batch_id,
            budget=self.budget,
        )

    def _selector(self) -> VersionSelector:
        if self.prompt_version_id is None:
            if self.prompt_id is None or self.label is None:
                missing = "prompt_id" if self.prompt_id is None else "label"
                raise DomainError(
                    "name `prompt_version_id`, or `prompt_id` with a `label` (`latest` for "
                    "its highest version)",
                    field=missing if self.label or self.prompt_id else "prompt_version_id",
                    rule="missing",
                )
        elif self.label is not None or self.prompt_id is not None:
            raise DomainError(
                "name either `prompt_version_id` or `prompt_id` with a `label`, not both",
                field="label" if self.label is not None else "prompt_id",
                rule="conflict",
            )
        return VersionSelector(
            prompt_version_id=self.prompt_version_id, prompt_id=self.prompt_id, label=self.label
        )

    def _model(self) -> ModelRef | None:
        if self.model_name is None and self.provider is None:
            return None  # the version's default model, else the mock's echo
        return ModelRef(
            provider=self.provider or MOCK_PROVIDER,
            # The original API's default model name, kept for callers that name only a provider.
            name=self.model_name or ORIGINAL_DEFAULT_MODEL,
            version=self.model_version,
        )

    def _cases(self) -> list[Case]:
        if self.cases_text is None:
            if self.cases_format is not None:
                raise DomainError(
                    "`cases_format` describes `cases_text`, which is missing",
                    field="cases_text",
                    rule="missing",
                )
            return [case_from_json(item, index) for index, item in enumerate(self.cases)]
        if self.cases:
            raise DomainError(
                "give cases either in `cases` or in `cases_text`, not both",
                field="cases_text",
                rule="conflict",
            )
        if self.cases_format is None:
            raise DomainError(
                "`cases_text` needs its `cases_format` (csv or jsonl)",
                field="cases_format",
                rule="missing",
            )
        cases = parse_cases(self.cases_text, self.cases_format)
        if len(cases) > MAX_CASES:
            raise DomainError(
                f"{len(cases)} cases; a run takes at most {MAX_CASES}",
                field="cases_text",
                rule="too_long",
            )
        return cases


ORIGINAL_DEFAULT_MODEL = "echo"
PARAMETER_FIELDS = {"temperature", "top_p", "max_tokens", "seed", "stop"}


class RunCreatedResponse(BaseModel):
    run_id: UUID
    status: Literal["queued"]
    total_calls: int
    prompt_version_id: UUID = Field(description="The version the run uses (resolved).")
    label: str | None = None
    model: ModelRef = Field(description="The model the run calls (resolved).")
    parameters: ModelParameters
    pricing: ModelPricing | None = Field(description="Snapshotted; null: the price is unknown.")
    estimated_cost: Money | None = Field(
        description="Before any call: rendered prompts at ~4 characters per token, and "
        "`max_tokens` (else 256) output tokens per call. Null when the price is unknown."
    )
    stream_version: int = Field(
        description="The run stream's version after RunCreated (kept for compatibility; "
        "`positions` is the answer readers wait on)"
    )
    positions: list[PositionOut] = Field(
        description="Every stream the command appended to: what query-api waits on "
        "(read your writes)"
    )


class CancelRunResponse(BaseModel):
    run_id: UUID
    status: Literal["cancelled", "cancelling"] = Field(
        description="`cancelled`: it had not started; `cancelling`: its executor stops it "
        "within a second, keeping the results already recorded."
    )
    positions: list[PositionOut]


class ProviderResponse(BaseModel):
    name: str
    kind: str
