"""The prompt aggregate's state, folded from its stream (decisions live in ``prompt_decisions``).

Invariants the decisions keep:
- Version numbers start at 1 and grow by one, with no gaps; a version never changes.
- A new version becomes the current version; ``latest`` is always the highest number.
- Every label points at an existing version.
- ``version`` is the stream's version: the number of events folded.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from uuid import UUID

from promptworks_contracts.events import (
    DomainEvent,
    PromptArchived,
    PromptCreated,
    PromptCurrentVersionSet,
    PromptLabelMoved,
    PromptLabelRemoved,
    PromptMetadataEdited,
    PromptRestored,
    PromptVersionCreated,
)
from promptworks_eventkit.errors import ConflictError


@dataclass(frozen=True)
class VersionInfo:
    version_id: UUID
    number: int
    label: str | None


@dataclass
class Prompt:
    prompt_id: UUID | None = None
    name: str = ""
    description: str = ""
    author: str = ""
    class_id: UUID | None = None
    tag_ids: tuple[UUID, ...] = ()
    versions: list[VersionInfo] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    current_version: int = 0
    archived: bool = False
    version: int = 0

    @classmethod
    def from_events(cls, events: Iterable[DomainEvent]) -> Prompt:
        return cls().evolve(events)

    def evolve(self, events: Iterable[DomainEvent]) -> Prompt:
        """A new state with ``events`` applied; ``self`` stays as it was."""
        state = copy.deepcopy(self)
        for event in events:
            state._apply(event)
        return state

    def _apply(self, event: DomainEvent) -> None:
        self.version += 1
        match event:
            case PromptCreated() | PromptMetadataEdited():
                self.prompt_id = event.prompt_id
                self.name = event.name
                self.description = event.description
                self.author = event.author
                self.class_id = event.class_id
                self.tag_ids = tuple(event.tag_ids)
            case PromptVersionCreated():
                self.versions.append(VersionInfo(event.version_id, event.number, event.label))
                self.current_version = event.number
            case PromptLabelMoved():
                self.labels[event.label] = event.version_number
            case PromptLabelRemoved():
                self.labels.pop(event.label, None)
            case PromptCurrentVersionSet():
                self.current_version = event.version_number
            case PromptArchived():
                self.archived = True
            case PromptRestored():
                self.archived = False

    @property
    def exists(self) -> bool:
        return self.prompt_id is not None

    def require_writable(self) -> UUID:
        """The prompt's id; 409 ``archived`` when it is archived (only restore may write)."""
        assert self.prompt_id is not None, "the handler loads an existing prompt"
        if self.archived:
            raise ConflictError(
                f"prompt {self.prompt_id} is archived; restore it before changing it",
                field="prompt_id",
                rule="archived",
            )
        return self.prompt_id

    @property
    def latest_version(self) -> int:
        return len(self.versions)

    def find_version(
        self, number: int | None = None, version_id: UUID | None = None
    ) -> VersionInfo | None:
        if number is not None:
            return self.versions[number - 1] if 1 <= number <= len(self.versions) else None
        return next((v for v in self.versions if v.version_id == version_id), None)
