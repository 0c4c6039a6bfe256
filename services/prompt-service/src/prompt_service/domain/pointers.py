"""Decisions on a prompt's pointers to its versions: labels and the current version.

Pure functions like ``prompt_decisions``. ``latest`` is no label anyone moves: it is implied
(always the highest version). Pointing a pointer where it already points is no event.
"""

from __future__ import annotations

import re

from prompt_service.domain.commands import VersionSelector
from prompt_service.domain.prompt import Prompt, VersionInfo
from promptworks_contracts.events import (
    DomainEvent,
    PromptCurrentVersionSet,
    PromptLabelMoved,
    PromptLabelRemoved,
)
from promptworks_contracts.events.prompt import LABEL_PATTERN
from promptworks_eventkit.errors import DomainError, NotFoundError

RESERVED_LABEL = "latest"
_LABEL = re.compile(LABEL_PATTERN)


def select_version(
    prompt: Prompt, target: VersionSelector, id_field: str = "version_id"
) -> VersionInfo:
    """The version ``target`` names; 422 naming the field when it is missing or unknown."""
    if target.version_number is None and target.version_id is None:
        raise DomainError(
            "give the version_number (or the version_id)", field="version_number", rule="missing"
        )
    if target.version_number is not None and target.version_id is not None:
        raise DomainError(
            "give version_number or version_id, not both", field=id_field, rule="exclusive"
        )
    found = prompt.find_version(target.version_number, target.version_id)
    if found is not None:
        return found
    if target.version_number is not None:
        raise DomainError(
            f"version {target.version_number} does not exist; this prompt has versions "
            f"1 to {prompt.latest_version}",
            field="version_number",
            rule="not_found",
        )
    raise DomainError(
        f"version {target.version_id} does not exist in this prompt",
        field=id_field,
        rule="not_found",
    )


def check_label(label: str) -> None:
    if label == RESERVED_LABEL:
        raise DomainError(
            "label 'latest' is reserved: it always points at the highest version by itself",
            field="label",
            rule="reserved",
        )
    if not _LABEL.match(label):
        raise DomainError(
            f"label {label[:60]!r} is invalid: use lower-case letters, digits, '_', '.' and '-', "
            "starting with a letter or digit, at most 50 characters",
            field="label",
            rule="string_pattern_mismatch",
        )


def move_label(
    prompt: Prompt, label: str, target: VersionSelector, actor: str, message: str = ""
) -> list[DomainEvent]:
    prompt_id = prompt.require_writable()
    check_label(label)
    version = select_version(prompt, target)
    previous = prompt.labels.get(label)
    if previous == version.number:
        return []
    return [
        PromptLabelMoved(
            prompt_id=prompt_id,
            actor=actor,
            label=label,
            version_id=version.version_id,
            version_number=version.number,
            previous_version_number=previous,
            message=message,
        )
    ]


def remove_label(prompt: Prompt, label: str, actor: str, message: str = "") -> list[DomainEvent]:
    prompt_id = prompt.require_writable()
    check_label(label)
    if label not in prompt.labels:
        known = ", ".join(sorted(prompt.labels)) or "none"
        raise NotFoundError(
            f"this prompt has no label {label!r} (its labels: {known})",
            field="label",
            rule="not_found",
        )
    return [
        PromptLabelRemoved(
            prompt_id=prompt_id,
            actor=actor,
            label=label,
            previous_version_number=prompt.labels[label],
            message=message,
        )
    ]


def set_current_version(
    prompt: Prompt,
    target: VersionSelector,
    actor: str,
    message: str = "",
    id_field: str = "version_id",
) -> list[DomainEvent]:
    """A rollback (or roll forward) of the prompt's current version; no event if already there."""
    prompt_id = prompt.require_writable()
    version = select_version(prompt, target, id_field)
    if version.number == prompt.current_version:
        return []
    return [
        PromptCurrentVersionSet(
            prompt_id=prompt_id,
            actor=actor,
            version_id=version.version_id,
            version_number=version.number,
            previous_version_number=prompt.current_version,
            message=message,
        )
    ]
