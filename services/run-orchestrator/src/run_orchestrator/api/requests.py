"""Request bodies of run-orchestrator: a run, and a batch (a matrix of runs).

``CreateRunRequest`` is the body query-api forwards from the public ``POST
/api/v1/test_prompt``, so it keeps the original product's field names (``model_name``,
``repetitions``, ``schema`` ...). Parameters left out (null) come from the version's
``default_parameters``. A rule a field's schema cannot express becomes a ``DomainError``
naming the field (a 422), raised while the body becomes its command.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from promptworks_contracts.values import Assertion, JsonSchemaAssertion, ModelRef
from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.http import JsonFloat, JsonInt
from run_orchestrator.domain.batches import MAX_CELLS, CreateBatch
from run_orchestrator.domain.cases import (
    MAX_CASES_TEXT_CHARS,
    Case,
    CaseFormat,
    case_from_json,
    parse_cases,
)
from run_orchestrator.domain.commands import MAX_CASES, MAX_REPETITIONS, CreateRun, VersionSelector
from run_orchestrator.settings import MOCK_PROVIDER, PROVIDER_NAME_PATTERN

ORIGINAL_DEFAULT_MODEL = "echo"
"""The original API's default model name, kept for callers that name only a provider."""


class VersionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

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

    def selector(self, prefix: str = "") -> VersionSelector:
        if self.prompt_version_id is None:
            if self.prompt_id is None or self.label is None:
                missing = "prompt_id" if self.prompt_id is None else "label"
                raise DomainError(
                    "name `prompt_version_id`, or `prompt_id` with a `label` (`latest` for "
                    "its highest version)",
                    field=prefix
                    + (missing if self.label or self.prompt_id else "prompt_version_id"),
                    rule="missing",
                )
        elif self.label is not None or self.prompt_id is not None:
            raise DomainError(
                "name either `prompt_version_id` or `prompt_id` with a `label`, not both",
                field=prefix + ("label" if self.label is not None else "prompt_id"),
                rule="conflict",
            )
        return VersionSelector(
            prompt_version_id=self.prompt_version_id, prompt_id=self.prompt_id, label=self.label
        )


class ModelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

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

    def model_ref(self) -> ModelRef | None:
        if self.model_name is None and self.provider is None:
            return None  # the version's default model, else the mock's echo
        return ModelRef(
            provider=self.provider or MOCK_PROVIDER,
            name=self.model_name or ORIGINAL_DEFAULT_MODEL,
            version=self.model_version,
        )


class ParametersIn(BaseModel):
    """Sampling parameters; each one left out comes from the version's defaults."""

    model_config = ConfigDict(extra="forbid")

    temperature: JsonFloat | None = Field(default=None, ge=0.0, le=2.0)
    top_p: JsonFloat | None = Field(default=None, gt=0.0, le=1.0)
    max_tokens: JsonInt | None = Field(default=None, ge=1, le=1_000_000)
    seed: JsonInt | None = None
    stop: list[str] | None = Field(default=None, max_length=4)

    def overrides(self) -> dict[str, Any]:
        return self.model_dump(include=set(ParametersIn.model_fields), exclude_none=True)


class WorkIn(BaseModel):
    """What every run of a request calls the model with: cases, repetitions, checks, budget."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

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
    budget: Decimal | None = Field(
        default=None,
        gt=0,
        max_digits=24,
        decimal_places=12,
        description="Stop a run when its spend reaches this amount (the model's currency; "
        "needs a priced model).",
    )

    cache: bool = Field(
        default=False,
        description="Use the shared response cache: a call whose rendered prompt, model, "
        "parameters (seed included) and repetition were answered before is answered from it "
        "(`cached`, no cost); new answers fill it.",
    )

    def all_assertions(self) -> list[Assertion]:
        assertions = list(self.assertions)
        if self.json_schema is not None:
            assertions.append(JsonSchemaAssertion(type="json_schema", json_schema=self.json_schema))
        return assertions

    def all_cases(self) -> list[Case]:
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


class CreateRunRequest(WorkIn, ParametersIn, ModelIn, VersionIn):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    batch_id: str | None = Field(
        default=None, max_length=200, description="Free text grouping runs (the original API)."
    )

    def command(self) -> CreateRun:
        return CreateRun(
            version=self.selector(),
            model=self.model_ref(),
            parameters=self.overrides(),
            repetitions=self.repetitions,
            cases=self.all_cases(),
            assertions=self.all_assertions(),
            notes=self.notes,
            batch_id=self.batch_id,
            budget=self.budget,
            use_cache=self.cache,
        )


class CreateBatchRequest(WorkIn):
    """Prompt versions x models x parameter sets over one case set: one run per cell."""

    name: str | None = Field(default=None, max_length=200)
    versions: list[VersionIn] = Field(min_length=1, max_length=MAX_CELLS)
    models: list[ModelIn] = Field(
        default_factory=lambda: [ModelIn()],
        min_length=1,
        max_length=MAX_CELLS,
        description="Default: one, the version's default model.",
    )
    parameter_sets: list[ParametersIn] = Field(
        default_factory=lambda: [ParametersIn()],
        min_length=1,
        max_length=MAX_CELLS,
        description="Default: one, the version's default parameters.",
    )

    def command(self) -> CreateBatch:
        return CreateBatch(
            name=self.name,
            versions=[v.selector(f"versions.{i}.") for i, v in enumerate(self.versions)],
            models=[model.model_ref() for model in self.models],
            parameter_sets=[parameters.overrides() for parameters in self.parameter_sets],
            repetitions=self.repetitions,
            cases=self.all_cases(),
            assertions=self.all_assertions(),
            notes=self.notes,
            budget=self.budget,
            use_cache=self.cache,
        )
