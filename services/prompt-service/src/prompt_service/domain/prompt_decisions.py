"""Decisions on the prompt aggregate: pure functions from (state, command data) to new events.

They never touch a database: names and ids were resolved by the handler beforehand (a class
or tag passed here exists). A decision that has nothing to change returns no event. An
archived prompt refuses every write but restore; ``detach`` (a class or tag being deleted)
applies to archived prompts too, so no prompt keeps a reference to something deleted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from uuid import UUID

from prompt_service.domain.commands import CreatePrompt, VersionContent, VersionSelector
from prompt_service.domain.content import ContentWarning, check_content
from prompt_service.domain.pointers import set_current_version
from prompt_service.domain.prompt import Prompt
from promptworks_contracts.events import (
    DomainEvent,
    PromptArchived,
    PromptCreated,
    PromptMetadataEdited,
    PromptRestored,
    PromptVersionCreated,
)
from promptworks_eventkit.errors import ConflictError


@dataclass(frozen=True)
class Decision:
    events: list[DomainEvent]
    warnings: list[ContentWarning] = field(default_factory=list)


@dataclass(frozen=True)
class MetadataPatch:
    """Resolved metadata changes: ``None`` keeps a field; ``set_class`` says ``class_id`` counts."""

    name: str | None = None
    description: str | None = None
    author: str | None = None
    set_class: bool = False
    class_id: UUID | None = None
    tag_ids: tuple[UUID, ...] | None = None


def normalize_tag_ids(tag_ids: tuple[UUID, ...] | list[UUID]) -> tuple[UUID, ...]:
    """A prompt's tags are a set; stored sorted so that equal sets compare and serialise equal."""
    return tuple(sorted(set(tag_ids), key=str))


def _version_event(
    prompt_id: UUID, number: int, content: VersionContent, actor: str
) -> PromptVersionCreated:
    return PromptVersionCreated(
        prompt_id=prompt_id,
        actor=actor,
        version_id=uuid.uuid4(),
        number=number,
        label=content.label,
        template=content.template,
        variables=content.variables,
        default_model=content.default_model,
        default_parameters=content.default_parameters,
        commit_message=content.commit_message,
        author=content.author or actor,
        origin=content.origin,
    )


def create_prompt(
    prompt_id: UUID, command: CreatePrompt, class_id: UUID | None, tag_ids: tuple[UUID, ...]
) -> Decision:
    warnings = check_content(command.first_version)
    created = PromptCreated(
        prompt_id=prompt_id,
        actor=command.actor,
        name=command.name,
        description=command.description,
        author=command.author,
        class_id=class_id,
        tag_ids=list(normalize_tag_ids(tag_ids)),
    )
    first = _version_event(prompt_id, 1, command.first_version, command.actor)
    return Decision([created, first], warnings)


def add_version(prompt: Prompt, content: VersionContent, actor: str) -> Decision:
    prompt_id = prompt.require_writable()
    warnings = check_content(content)
    return Decision(
        [_version_event(prompt_id, prompt.latest_version + 1, content, actor)], warnings
    )


def _metadata_event(
    prompt: Prompt, patch: MetadataPatch, actor: str, message: str
) -> list[DomainEvent]:
    assert prompt.prompt_id is not None
    before = {
        "name": prompt.name,
        "description": prompt.description,
        "author": prompt.author,
        "class_id": prompt.class_id,
        "tag_ids": prompt.tag_ids,
    }
    after = {
        "name": prompt.name if patch.name is None else patch.name,
        "description": prompt.description if patch.description is None else patch.description,
        "author": prompt.author if patch.author is None else patch.author,
        "class_id": patch.class_id if patch.set_class else prompt.class_id,
        "tag_ids": prompt.tag_ids if patch.tag_ids is None else normalize_tag_ids(patch.tag_ids),
    }
    changed = [key for key in before if before[key] != after[key]]
    if not changed:
        return []
    return [
        PromptMetadataEdited.model_validate(
            {
                **after,
                "prompt_id": prompt.prompt_id,
                "actor": actor,
                "changed": changed,
                "message": message,
            }
        )
    ]


def edit_metadata(
    prompt: Prompt, patch: MetadataPatch, actor: str, message: str = ""
) -> list[DomainEvent]:
    """One ``PromptMetadataEdited`` with the full state after the edit; none if nothing changed."""
    prompt.require_writable()
    return _metadata_event(prompt, patch, actor, message)


def detach(
    prompt: Prompt,
    actor: str,
    *,
    class_id: UUID | None = None,
    tag_id: UUID | None = None,
    message: str = "",
) -> list[DomainEvent]:
    """Moves the prompt out of a class or drops a tag that is being deleted (archived or not)."""
    if class_id is not None and prompt.class_id == class_id:
        return _metadata_event(prompt, MetadataPatch(set_class=True, class_id=None), actor, message)
    if tag_id is not None and tag_id in prompt.tag_ids:
        remaining = tuple(t for t in prompt.tag_ids if t != tag_id)
        return _metadata_event(prompt, MetadataPatch(tag_ids=remaining), actor, message)
    return []


def update_prompt(
    prompt: Prompt,
    patch: MetadataPatch,
    new_version: VersionContent | None,
    activate_version_id: UUID | None,
    actor: str,
    message: str = "",
) -> Decision:
    """PUT: metadata edit, then a new version, then the current version set; one event list."""
    prompt.require_writable()
    events = _metadata_event(prompt, patch, actor, message)
    warnings: list[ContentWarning] = []
    if new_version is not None:
        added = add_version(prompt.evolve(events), new_version, actor)
        events += added.events
        warnings = added.warnings
    if activate_version_id is not None:
        target = VersionSelector(version_id=activate_version_id)
        state = prompt.evolve(events)
        events += set_current_version(state, target, actor, message, "activate_version_id")
    return Decision(events, warnings)


def archive(prompt: Prompt, actor: str, message: str = "") -> list[DomainEvent]:
    assert prompt.prompt_id is not None
    if prompt.archived:
        raise ConflictError(
            f"prompt {prompt.prompt_id} is already archived",
            field="prompt_id",
            rule="already_archived",
        )
    return [PromptArchived(prompt_id=prompt.prompt_id, actor=actor, message=message)]


def restore(prompt: Prompt, actor: str, message: str = "") -> list[DomainEvent]:
    assert prompt.prompt_id is not None
    if not prompt.archived:
        raise ConflictError(
            f"prompt {prompt.prompt_id} is not archived", field="prompt_id", rule="not_archived"
        )
    return [PromptRestored(prompt_id=prompt.prompt_id, actor=actor, message=message)]
