"""The difference between two versions of a prompt: unified text of the templates, and per
field for the model configuration, the parameters and the variables."""

from __future__ import annotations

import difflib
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.values import TextTemplate
from promptworks_eventkit.errors import NotFoundError
from query_api.queries.prompt_reads import require_prompt, versions_by_number
from query_api.schemas.prompts import (
    Change,
    CommitMessage,
    DiffOut,
    ModelChange,
    ParametersDiff,
    PromptVersionOut,
    TemplateDiff,
    VariableChange,
    VariablesDiff,
)
from query_api.tables import prompt_versions

v = prompt_versions.c


async def diff_versions(session: AsyncSession, prompt_id: UUID, first: int, second: int) -> DiffOut:
    found = await versions_by_number(session, prompt_id, [first, second])
    for field, number in (("from", first), ("to", second)):
        if number not in found:
            await require_prompt(session, prompt_id)
            raise NotFoundError(f"prompt {prompt_id} has no version {number}", field=field)
    a, b = found[first], found[second]
    low, high = sorted((first, second))
    rows = await session.execute(
        select(v.number, v.commit_message)
        .where(v.prompt_id == prompt_id, v.number > low, v.number <= high)
        .order_by(v.number if first <= second else v.number.desc())
    )
    return DiffOut(
        from_=first,
        to=second,
        template=TemplateDiff(unified=unified(a, b)),
        label=Change(from_=a.label, to=b.label),
        default_model=_model(a, b),
        default_parameters=_parameters(a, b),
        variables=_variables(a, b),
        commit_messages=[CommitMessage(number=n, message=m) for n, m in rows],
    )


def template_text(version: PromptVersionOut) -> str:
    """Text templates as they are; chat templates as ``[role]`` blocks."""
    template = version.template
    if isinstance(template, TextTemplate):
        return template.text
    return "\n".join(f"[{m.role}]\n{m.content}\n" for m in template.messages)


def unified(a: PromptVersionOut, b: PromptVersionOut) -> str:
    def lines(text: str) -> list[str]:
        return [line if line.endswith("\n") else line + "\n" for line in text.splitlines()]

    return "".join(
        difflib.unified_diff(
            lines(template_text(a)),
            lines(template_text(b)),
            fromfile=f"version {a.number}",
            tofile=f"version {b.number}",
        )
    )


def _dump(value: Any) -> Any:
    return None if value is None else value.model_dump(mode="json")


def _model(a: PromptVersionOut, b: PromptVersionOut) -> ModelChange:
    before, after = _dump(a.default_model), _dump(b.default_model)
    return ModelChange(from_=before, to=after, changed=before != after)


def _parameters(a: PromptVersionOut, b: PromptVersionOut) -> ParametersDiff:
    before: dict[str, Any] = _dump(a.default_parameters) or {}
    after: dict[str, Any] = _dump(b.default_parameters) or {}
    changed = {
        key: Change(from_=before.get(key), to=after.get(key))
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key)
    }
    return ParametersDiff(changed=changed)


def _variables(a: PromptVersionOut, b: PromptVersionOut) -> VariablesDiff:
    before = {spec.name: spec for spec in a.variables}
    after = {spec.name: spec for spec in b.variables}
    return VariablesDiff(
        added=[after[name] for name in after if name not in before],
        removed=[before[name] for name in before if name not in after],
        changed=[
            VariableChange(name=name, from_=_dump(before[name]), to=_dump(after[name]))
            for name in before
            if name in after and before[name] != after[name]
        ],
    )
