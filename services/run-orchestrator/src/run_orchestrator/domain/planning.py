"""Plans a run: checks every case against the prompt version and snapshots it in RunCreated.

Invariants:
- Model and parameters are the command's, else the version's defaults, else mock ``echo``
  and the API's defaults; parameters given in the command override the version's one by one.
- Every case gives each required variable the version declares, with the declared type
  (``variables.typed_variables``); declared defaults (and an empty string for optional
  variables without a default) fill the gaps. The snapshot stores the filled-in variables, so
  a run never needs the version again to be reproduced.
- Every case renders at creation; a case that cannot render is refused before anything is
  written, so the executor never meets a template error.
- ``total_calls = max(1, len(cases)) * repetitions``: no cases means one case without
  variables; at most ``MAX_CALLS``, checked before any case is rendered.
- The pricing is snapshotted, so a run's cost never changes when the catalog's prices do; the
  estimate and the budget are in the pricing's currency (a budget needs a known price).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from promptworks_contracts.events import RunCreated
from promptworks_contracts.values import (
    ModelParameters,
    ModelPricing,
    ModelRef,
    Money,
    VariableSpec,
)
from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.templating import TemplateError
from run_orchestrator.domain.cases import Case
from run_orchestrator.domain.commands import MAX_CALLS, CreateRun
from run_orchestrator.domain.cost import estimate_cost
from run_orchestrator.domain.prompt_version import PromptVersion
from run_orchestrator.domain.rendering import prompt_text, render_messages
from run_orchestrator.domain.variables import typed_variables

FALLBACK_MODEL = ModelRef(provider="mock", name="echo")


def total_calls(case_count: int, repetitions: int) -> int:
    return max(1, case_count) * repetitions


def resolve_model(command: CreateRun, version: PromptVersion) -> ModelRef:
    return command.model or version.default_model or FALLBACK_MODEL


def resolve_parameters(overrides: dict[str, Any], version: PromptVersion) -> ModelParameters:
    base = version.default_parameters or ModelParameters()
    if not overrides:
        return base
    try:
        return ModelParameters.model_validate({**base.model_dump(), **overrides})
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise DomainError(first["msg"], field=field, rule=first["type"]) from error


def _defaults(variables: list[VariableSpec]) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for spec in variables:
        if spec.default is not None:
            defaults[spec.name] = spec.default
        elif not spec.required:
            defaults[spec.name] = ""
    return defaults


def case_variables(version: PromptVersion, cases: list[Case]) -> list[dict[str, Any]]:
    """Each case typed and with the version's defaults applied; raises DomainError."""
    defaults = _defaults(version.variables)
    required = [v.name for v in version.variables if v.required and v.name not in defaults]
    if not cases:
        if required:
            raise DomainError(
                f"the prompt version requires variables {required}; give them in `cases`",
                field="cases",
                rule="missing",
            )
        return [defaults] if defaults else []
    filled: list[dict[str, Any]] = []
    for index, case in enumerate(cases):
        variables = typed_variables(version.variables, case.variables, index, textual=case.textual)
        for name in required:
            if name not in variables:
                raise DomainError(
                    f"case {index} does not give the required variable {name!r}",
                    field=f"cases.{index}.{name}",
                    rule="missing",
                )
        filled.append({**defaults, **variables} if defaults else variables)
    return filled


def rendered_chars(version: PromptVersion, cases: list[dict[str, Any]]) -> int:
    """Renders every case (refusing one that cannot render); the rendered size summed."""
    size = 0
    for index, variables in enumerate(cases or [{}]):
        try:
            size += len(prompt_text(render_messages(version.template, variables)))
        except Exception as error:
            # templating.render wraps Jinja's own errors in TemplateError, but a runtime error
            # inside the template (iterating over a number, ...) escapes as itself.
            reason = str(error) if isinstance(error, TemplateError) else _describe(error)
            raise DomainError(
                f"case {index} cannot be rendered: {reason}",
                field=f"cases.{index}",
                rule="template_render",
            ) from error
    return size


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


@dataclass(frozen=True)
class RunPlan:
    """What the handler resolved before planning: the version, its model and their price."""

    version: PromptVersion
    model: ModelRef
    parameters: ModelParameters
    pricing: ModelPricing | None
    label: str | None = None


def plan_run(run_id: UUID, command: CreateRun, plan: RunPlan) -> RunCreated:
    """The RunCreated that snapshots everything the run will use; raises DomainError."""
    calls = total_calls(len(command.cases), command.repetitions)
    if calls > MAX_CALLS:
        raise DomainError(
            f"{max(1, len(command.cases))} cases x {command.repetitions} repetitions = {calls} "
            f"model calls; a run makes at most {MAX_CALLS}: use fewer repetitions or split "
            "the cases over several runs",
            field="repetitions",
            rule="too_many_calls",
        )
    budget = _budget(command, plan.pricing)
    version = plan.version
    cases = case_variables(version, command.cases)
    size = rendered_chars(version, cases)
    estimate = estimate_cost(
        size, command.repetitions, plan.parameters.max_tokens, max(1, len(cases)), plan.pricing
    )
    given_expected = any(case.expected is not None for case in command.cases)
    given_metadata = any(case.metadata for case in command.cases)
    return RunCreated(
        run_id=run_id,
        prompt_id=version.prompt_id,
        prompt_version_id=version.version_id,
        prompt_version_number=version.number,
        template=version.template,
        model=plan.model,
        parameters=plan.parameters,
        repetitions=command.repetitions,
        cases=cases,
        expected=[case.expected for case in command.cases] if given_expected else [],
        case_metadata=[case.metadata for case in command.cases] if given_metadata else [],
        assertions=command.assertions,
        evaluator=command.evaluator,
        notes=command.notes,
        metadata=command.metadata,
        batch_id=command.batch_id,
        total_calls=calls,
        label=plan.label,
        pricing=plan.pricing,
        estimated_cost=estimate,
        budget=budget,
        use_cache=command.use_cache,
    )


def _budget(command: CreateRun, pricing: ModelPricing | None) -> Money | None:
    if command.budget is None:
        return None
    if pricing is None:
        raise DomainError(
            "a budget needs the model's price, and this model has none in the catalog",
            field="budget",
            rule="price_unknown",
        )
    return Money(amount=command.budget, currency=pricing.currency)
