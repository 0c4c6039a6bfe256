"""Request bodies (``promptworks_contracts.api``) into commands.

The shapes are shared with query-api, which documents and validates them on the public paths;
the rules between fields are run-orchestrator's and live here: a version named one way only,
cases in ``cases`` or ``cases_text`` with its format. A rule broken is a ``DomainError``
naming the field (a 422).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from promptworks_contracts.api.runs import (
    MAX_CASES,
    CreateBatchRequest,
    CreateRunRequest,
    ModelIn,
    ParametersIn,
    VersionIn,
    WorkIn,
)
from promptworks_contracts.values import Assertion, EvaluatorPin, JsonSchemaAssertion, ModelRef
from promptworks_eventkit.errors import DomainError
from run_orchestrator.domain.batches import CreateBatch
from run_orchestrator.domain.cases import Case, case_from_json, parse_cases
from run_orchestrator.domain.commands import CreateRun, VersionSelector
from run_orchestrator.settings import MOCK_PROVIDER

ORIGINAL_DEFAULT_MODEL = "echo"
"""The original API's default model name, kept for callers that name only a provider."""
PARAMETER_FIELDS = frozenset(ParametersIn.model_fields)


Pinned = tuple[EvaluatorPin, list[Assertion]] | None
"""The evaluator version a request named, resolved, with its assertions."""


def run_command(body: CreateRunRequest, evaluator: Pinned = None) -> CreateRun:
    return CreateRun(
        version=selector(body),
        model=model_ref(body),
        parameters=overrides(body),
        repetitions=body.repetitions,
        cases=all_cases(body),
        assertions=all_assertions(body) if evaluator is None else evaluator[1],
        evaluator=None if evaluator is None else evaluator[0],
        notes=body.notes,
        metadata=body.metadata,
        batch_id=body.batch_id,
        budget=body.budget,
        use_cache=body.cache,
    )


def batch_command(body: CreateBatchRequest, evaluator: Pinned = None) -> CreateBatch:
    return CreateBatch(
        name=body.name,
        versions=[selector(v, f"versions.{i}.") for i, v in enumerate(body.versions)],
        models=[model_ref(model) for model in body.models],
        parameter_sets=[overrides(parameters) for parameters in body.parameter_sets],
        repetitions=body.repetitions,
        cases=all_cases(body),
        assertions=all_assertions(body) if evaluator is None else evaluator[1],
        evaluator=None if evaluator is None else evaluator[0],
        notes=body.notes,
        metadata=body.metadata,
        budget=body.budget,
        use_cache=body.cache,
    )


def selector(version: VersionIn, prefix: str = "") -> VersionSelector:
    if version.prompt_version_id is None:
        if version.prompt_id is None or version.label is None:
            missing = "prompt_id" if version.prompt_id is None else "label"
            named = version.label or version.prompt_id
            raise DomainError(
                "name `prompt_version_id`, or `prompt_id` with a `label` (`latest` for its "
                "highest version)",
                field=prefix + (missing if named else "prompt_version_id"),
                rule="missing",
            )
    elif version.label is not None or version.prompt_id is not None:
        raise DomainError(
            "name either `prompt_version_id` or `prompt_id` with a `label`, not both",
            field=prefix + ("label" if version.label is not None else "prompt_id"),
            rule="conflict",
        )
    return VersionSelector(
        prompt_version_id=version.prompt_version_id,
        prompt_id=version.prompt_id,
        label=version.label,
    )


def model_ref(model: ModelIn) -> ModelRef | None:
    if model.model_name is None and model.provider is None:
        return None  # the version's default model, else the mock's echo
    return ModelRef(
        provider=model.provider or MOCK_PROVIDER,
        name=model.model_name or ORIGINAL_DEFAULT_MODEL,
        version=model.model_version,
    )


def overrides(parameters: ParametersIn) -> dict[str, Any]:
    return parameters.model_dump(include=set(PARAMETER_FIELDS), exclude_none=True)


def all_assertions(work: WorkIn) -> list[Assertion]:
    assertions = list(work.assertions)
    if work.json_schema is not None:
        try:
            assertions.append(JsonSchemaAssertion(type="json_schema", json_schema=work.json_schema))
        except ValidationError as error:
            raise DomainError(
                f"`schema` is not a valid JSON Schema: {error.errors()[0]['msg']}",
                field="schema",
                rule="json_schema",
            ) from error
    return assertions


def all_cases(work: WorkIn) -> list[Case]:
    if work.cases_text is None:
        if work.cases_format is not None:
            raise DomainError(
                "`cases_format` describes `cases_text`, which is missing",
                field="cases_text",
                rule="missing",
            )
        return [case_from_json(item, index) for index, item in enumerate(work.cases)]
    if work.cases:
        raise DomainError(
            "give cases either in `cases` or in `cases_text`, not both",
            field="cases_text",
            rule="conflict",
        )
    if work.cases_format is None:
        raise DomainError(
            "`cases_text` needs its `cases_format` (csv or jsonl)",
            field="cases_format",
            rule="missing",
        )
    cases = parse_cases(work.cases_text, work.cases_format)
    if len(cases) > MAX_CASES:
        raise DomainError(
            f"{len(cases)} cases; a run takes at most {MAX_CASES}",
            field="cases_text",
            rule="too_long",
        )
    return cases
