"""Plans a run: checks every case against the prompt version and snapshots it in RunCreated.

Invariants:
- Every case provides each required variable the version declares; declared defaults (and an
  empty string for optional variables without a default) fill the gaps. The snapshot stores
  the filled-in variables, so a run never needs the version again to be reproduced.
- Every case renders at creation; a case that cannot render is refused before anything is
  written, so the executor never meets a template error.
- ``total_calls = max(1, len(cases)) * repetitions``: no cases means one case without
  variables; at most ``MAX_CALLS``, checked before any case is rendered.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from promptworks_contracts.events import RunCreated
from promptworks_contracts.values import VariableSpec
from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.templating import TemplateError
from run_orchestrator.domain.commands import MAX_CALLS, CreateRun
from run_orchestrator.domain.prompt_version import PromptVersion
from run_orchestrator.domain.rendering import render_messages


def total_calls(case_count: int, repetitions: int) -> int:
    return max(1, case_count) * repetitions


def _defaults(variables: list[VariableSpec]) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for spec in variables:
        if spec.default is not None:
            defaults[spec.name] = spec.default
        elif not spec.required:
            defaults[spec.name] = ""
    return defaults


def case_variables(version: PromptVersion, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each case with the version's defaults applied; raises on a missing required variable."""
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
        for name in required:
            if name not in case:
                raise DomainError(
                    f"case {index} does not give the required variable {name!r}",
                    field=f"cases.{index}.{name}",
                    rule="missing",
                )
        filled.append({**defaults, **case} if defaults else case)
    return filled


def check_renders(version: PromptVersion, cases: list[dict[str, Any]]) -> None:
    for index, variables in enumerate(cases or [{}]):
        try:
            render_messages(version.template, variables)
        except Exception as error:
            # templating.render wraps Jinja's own errors in TemplateError, but a runtime error
            # inside the template (iterating over a number, ...) escapes as itself.
            reason = str(error) if isinstance(error, TemplateError) else _describe(error)
            raise DomainError(
                f"case {index} cannot be rendered: {reason}",
                field=f"cases.{index}",
                rule="template_render",
            ) from error


def _describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def plan_run(run_id: UUID, command: CreateRun, version: PromptVersion) -> RunCreated:
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
    cases = case_variables(version, command.cases)
    check_renders(version, cases)
    return RunCreated(
        run_id=run_id,
        prompt_id=version.prompt_id,
        prompt_version_id=version.version_id,
        prompt_version_number=version.number,
        template=version.template,
        model=command.model,
        parameters=command.parameters,
        repetitions=command.repetitions,
        cases=cases,
        assertions=command.assertions,
        notes=command.notes,
        batch_id=command.batch_id,
        total_calls=calls,
    )
