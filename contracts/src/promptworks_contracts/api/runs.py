"""Request bodies of runs and batches: ``POST /runs`` (query-api's ``POST /test_prompt``),
``POST /runs/{id}/retry`` and ``/cancel`` take none, ``POST /batches``.

run-orchestrator validates them and turns them into commands (its ``api/requests.py``: the
rules between fields, such as naming the version one way only, are its own); query-api
documents and validates them on the public paths it forwards. Field names keep the original
product's (``model_name``, ``repetitions``, ``schema`` ...).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from promptworks_contracts.api.evaluators import EvaluatorRefIn
from promptworks_contracts.api.prompts import JsonFloat, JsonInt
from promptworks_contracts.values import Assertion

MAX_CASES = 10_000
MAX_REPETITIONS = 50
MAX_CELLS = 100
MAX_CASES_TEXT_CHARS = 10_000_000
MAX_METADATA = 16_000
PROVIDER_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"

CaseFormat = Literal["csv", "jsonl"]


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


class ParametersIn(BaseModel):
    """Sampling parameters; each one left out comes from the version's defaults."""

    model_config = ConfigDict(extra="forbid")

    temperature: JsonFloat | None = Field(default=None, ge=0.0, le=2.0)
    top_p: JsonFloat | None = Field(default=None, gt=0.0, le=1.0)
    max_tokens: JsonInt | None = Field(default=None, ge=1, le=1_000_000)
    seed: JsonInt | None = None
    stop: list[str] | None = Field(default=None, max_length=4)


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
    evaluator: EvaluatorRefIn | None = Field(
        default=None,
        description="Evaluate with this evaluator version (its assertions and judges) instead "
        "of inline `assertions` / `schema`; `latest` is resolved now and pinned in the run.",
    )
    json_schema: dict[str, Any] | None = Field(
        default=None,
        alias="schema",
        description="A JSON Schema every output must match (becomes a json_schema assertion).",
    )
    notes: str | None = Field(default=None, max_length=5000)
    metadata: dict[str, Any] | None = Field(
        default=None,
        description="Free JSON kept with each run and answered as sent (what the original "
        "frontend stored in `schema`, which now checks outputs); at most 16,000 characters.",
    )
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

    @field_validator("metadata")
    @classmethod
    def _small_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        # It travels in the RunCreated event and in every answer about the run.
        if value is not None and len(json.dumps(value, separators=(",", ":"))) > MAX_METADATA:
            raise ValueError(f"metadata is longer than {MAX_METADATA} characters as JSON")
        return value


class CreateRunRequest(WorkIn, ParametersIn, ModelIn, VersionIn):
    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "prompt_id": "00000000-0000-0000-0000-000000000000",
                    "label": "production",
                    "provider": "mock",
                    "model_name": "echo",
                    "temperature": 0.7,
                    "repetitions": 3,
                    "cases": [{"name": "Ada"}, {"variables": {"name": "Grace"}, "expected": "Hi"}],
                    "notes": "smoke test",
                    "metadata": {"ticket": "PW-12", "owner": "ann"},
                }
            ]
        },
    )

    batch_id: str | None = Field(
        default=None, max_length=200, description="Free text grouping runs (the original API)."
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


class QuickTestRequest(ParametersIn, ModelIn, VersionIn):
    """One call to try a prompt version: answered whole, or streamed as server-sent events
    (``stream``: ``delta`` events with text, then ``done`` with usage and cost). Recorded as
    usage (``promptworks.quick_test.completed.v1``), not as a run."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "prompt_id": "00000000-0000-0000-0000-000000000000",
                    "label": "latest",
                    "variables": {"name": "Ada"},
                    "provider": "mock",
                    "model_name": "echo",
                    "stream": True,
                }
            ]
        },
    )

    variables: dict[str, Any] = Field(default_factory=dict, description="One case's variables.")
    stream: bool = Field(default=False, description="Answer as text/event-stream.")
