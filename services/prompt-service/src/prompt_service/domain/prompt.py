"""The prompt aggregate: state folded from its events, and the decisions on commands.

Invariants:
- Version numbers start at 1 and grow by one, with no gaps (the stream's expected version
  guards concurrent writers).
- A version's template parses, every variable it requires is declared, and every declared
  variable is used: a mismatch is refused with both lists named.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from prompt_service.domain.commands import CreatePrompt, VersionContent
from promptworks_contracts.events import DomainEvent, PromptCreated, PromptVersionCreated
from promptworks_contracts.values import ChatTemplate, TextTemplate
from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.templating import TemplateError, check


@dataclass
class Prompt:
    prompt_id: uuid.UUID | None = None
    name: str = ""
    versions: list[uuid.UUID] = field(default_factory=list)

    @classmethod
    def from_events(cls, events: Iterable[DomainEvent]) -> Prompt:
        prompt = cls()
        for event in events:
            prompt.apply(event)
        return prompt

    def apply(self, event: DomainEvent) -> None:
        match event:
            case PromptCreated():
                self.prompt_id = event.prompt_id
                self.name = event.name
            case PromptVersionCreated():
                self.versions.append(event.version_id)

    @property
    def exists(self) -> bool:
        return self.prompt_id is not None


def validate_content(content: VersionContent) -> None:
    """Field names in errors are the ones clients send (``content``, ``messages.N.content``)."""
    sources = (
        [("content", content.template.text)]
        if isinstance(content.template, TextTemplate)
        else [(f"messages.{i}.content", m.content) for i, m in enumerate(content.template.messages)]
    )
    used: set[str] = set()
    for where, source in sources:
        try:
            used |= check(source).used_variables
        except TemplateError as error:
            raise DomainError(str(error), field=where, rule="template_syntax") from error
    declared = {v.name for v in content.variables}
    if content.variables:
        # Declaring variables opts into strict checking; an undeclared prompt is free-form.
        undeclared, unused = sorted(used - declared), sorted(declared - used)
        if undeclared or unused:
            raise DomainError(
                f"variables used but not declared: {undeclared}; declared but unused: {unused}",
                field="variables",
                rule="variables_mismatch",
            )
    names = [v.name for v in content.variables]
    if len(names) != len(set(names)):
        raise DomainError("variable names must be unique", field="variables", rule="unique")


def _version_event(
    prompt_id: uuid.UUID, number: int, content: VersionContent
) -> PromptVersionCreated:
    return PromptVersionCreated(
        prompt_id=prompt_id,
        version_id=uuid.uuid4(),
        number=number,
        label=content.label,
        template=content.template,
        variables=content.variables,
        default_model=content.default_model,
        default_parameters=content.default_parameters,
        commit_message=content.commit_message,
        author=content.author,
    )


def create_prompt(command: CreatePrompt) -> list[DomainEvent]:
    validate_content(command.first_version)
    prompt_id = uuid.uuid4()
    return [
        PromptCreated(
            prompt_id=prompt_id,
            name=command.name,
            description=command.description,
            author=command.author,
            class_name=command.class_name,
            tags=sorted(set(command.tags)),
        ),
        _version_event(prompt_id, 1, command.first_version),
    ]


def create_version(prompt: Prompt, content: VersionContent) -> list[DomainEvent]:
    assert prompt.prompt_id is not None
    validate_content(content)
    return [_version_event(prompt.prompt_id, len(prompt.versions) + 1, content)]


__all__ = ["ChatTemplate", "Prompt", "create_prompt", "create_version", "validate_content"]
