"""A render preview: a version's template (or one not saved yet: ``render_draft``) with given
variables, through the platform's own sandboxed renderer (the one the run-orchestrator uses).
A read: nothing is written.

Values: the given ones, else a declared default, else "" for an optional declared variable
(reported in ``missing``). A required declared variable or a variable the template uses
without declaring it, left without a value, is a 422 naming ``variables.<name>`` (one entry of
the answer's ``errors`` per variable: see ``MissingVariablesError``).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.api.prompts import RenderTemplateRequest
from promptworks_contracts.values import (
    ChatMessage,
    ChatTemplate,
    PromptTemplate,
    TextTemplate,
    VariableSpec,
)
from promptworks_eventkit.errors import DomainError, NotFoundError
from promptworks_eventkit.templating import TemplateError, render
from query_api.projections.variables import template_sources, used_variables
from query_api.queries.prompt_docs import LATEST
from query_api.queries.prompt_reads import prompt_not_found, versions_by_number
from query_api.schemas.prompts import (
    PromptVersionOut,
    RenderOut,
    RenderPreviewOut,
    RenderRequest,
)
from query_api.tables import prompts

p = prompts.c


class MissingVariablesError(DomainError):
    """Required variables without a value. The API answers with one error per variable
    (``errors``: field ``variables.<name>``, rule ``missing``), not one for them all."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(
            f"missing required variable(s): {', '.join(names)}", field="variables", rule="missing"
        )
        self.names = names
        self.errors = [
            DomainError(
                f"variable {name!r} is required and has no default",
                field=f"variables.{name}",
                rule="missing",
            )
            for name in names
        ]


async def render_prompt(
    session: AsyncSession, prompt_id: UUID, request: RenderRequest
) -> RenderOut:
    version = await _version(session, prompt_id, request)
    return render_version(version, request.variables)


async def _version(
    session: AsyncSession, prompt_id: UUID, request: RenderRequest
) -> PromptVersionOut:
    if request.version is not None and request.label is not None:
        raise DomainError(
            "give version or label, not both", field="label", rule="version_and_label"
        )
    row = (
        await session.execute(
            select(p.labels, p.version_count, p.current_version_number).where(
                p.prompt_id == prompt_id
            )
        )
    ).first()
    if row is None:
        raise prompt_not_found(prompt_id)
    field, number = "version", request.version
    if request.label is not None:
        field = "label"
        number = row.version_count if request.label == LATEST else row.labels.get(request.label)
        if not number:
            raise NotFoundError(f"prompt {prompt_id} has no label {request.label!r}", field="label")
    elif number is None:
        number = row.current_version_number
        if number is None:
            raise NotFoundError(f"prompt {prompt_id} has no version yet", field="version")
    found = await versions_by_number(session, prompt_id, [number])
    if number not in found:
        raise NotFoundError(f"prompt {prompt_id} has no version {number}", field=field)
    return found[number]


def render_version(version: PromptVersionOut, given: dict[str, Any]) -> RenderOut:
    preview = render_template(version.template, version.variables, given)
    return RenderOut(version_number=version.number, **preview.model_dump())


def render_draft(request: RenderTemplateRequest) -> RenderPreviewOut:
    """A template not saved yet (the editor's live preview); its errors name the field the
    editor shows them next to: ``template`` or ``messages.<i>.content``."""
    if (request.template is None) == (request.messages is None):
        raise DomainError(
            "give template (text) or messages (chat), one of them",
            field="template",
            rule="template_or_messages",
        )
    template: PromptTemplate
    if request.template is not None:
        template, fields = TextTemplate(text=request.template), ["template"]
    else:
        messages = request.messages or []
        template = ChatTemplate(messages=messages)
        fields = [f"messages.{i}.content" for i in range(len(messages))]
    return render_template(template, request.declared, request.variables, fields)


def render_template(
    template: PromptTemplate,
    declared_variables: list[VariableSpec],
    given: dict[str, Any],
    fields: list[str] | None = None,
) -> RenderPreviewOut:
    """``fields`` names each source for its errors; without it a parse error names
    ``template`` and a render error ``variables`` (a stored version's template is valid)."""
    sources = template_sources(template)
    used: set[str] = set()
    for i, source in enumerate(sources):
        try:
            used |= used_variables(source)
        except TemplateError as error:
            field = fields[i] if fields else "template"
            raise DomainError(str(error), field=field, rule="template_invalid") from error
    values = dict(given)
    missing: list[str] = []
    required: list[str] = []
    declared = {spec.name: spec for spec in declared_variables}
    for name, spec in declared.items():
        if name in values:
            continue
        if spec.default is not None:
            values[name] = spec.default
        elif not spec.required:
            values[name] = ""
            missing.append(name)
        else:
            required.append(name)
    required += sorted(used - declared.keys() - values.keys())
    if required:
        raise MissingVariablesError(required)
    rendered: list[str] = []
    for i, source in enumerate(sources):
        try:
            rendered.append(render(source, values))
        except TemplateError as error:
            field = fields[i] if fields else "variables"
            raise DomainError(str(error), field=field, rule="render_failed") from error
    common: dict[str, Any] = {"missing": missing, "unused": sorted(set(given) - used)}
    if isinstance(template, TextTemplate):
        return RenderPreviewOut(kind="text", text=rendered[0], **common)
    messages = [
        ChatMessage(role=message.role, content=text)
        for message, text in zip(template.messages, rendered, strict=True)
    ]
    return RenderPreviewOut(kind="chat", messages=messages, **common)
