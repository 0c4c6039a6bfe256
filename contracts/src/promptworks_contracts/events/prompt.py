"""Events of prompt-service, all on topic ``promptworks.prompt``, keyed by aggregate id.

Three aggregates: a prompt (stream id = prompt id), a prompt class (= class id) and a prompt tag
(= tag id). Prompts refer to classes and tags by id; names live in the class and tag events, so
a rename is one event. Every event names its ``actor`` (who did it); the history of a prompt is
its stream.

Implied, not evented: a new version becomes the prompt's current version, and ``latest`` always
points at the highest version number.
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import Field

from promptworks_contracts.events.base import DomainEvent
from promptworks_contracts.projects import ProjectScoped
from promptworks_contracts.topics import PROMPT_EVENTS
from promptworks_contracts.values import (
    ModelParameters,
    ModelRef,
    PromptTemplate,
    VariableSpec,
    VersionOrigin,
)

LABEL_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,49}$"
"""Labels: lower-case, e.g. ``production``, ``staging``, ``canary-eu``."""


class _PromptEvent(DomainEvent):
    topic: ClassVar[str] = PROMPT_EVENTS
    prompt_id: UUID
    actor: str = Field(default="", description="Who did it (free text until there is auth).")

    def stream_id(self) -> str:
        return str(self.prompt_id)


class PromptCreated(_PromptEvent, ProjectScoped):
    event_type: ClassVar[str] = "promptworks.prompt.created.v1"
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    author: str = ""
    class_id: UUID | None = None
    tag_ids: list[UUID] = Field(default_factory=list)


class PromptVersionCreated(_PromptEvent):
    """An immutable version. ``number`` counts from 1 without gaps; ``label`` is free text.
    The new version becomes the prompt's current version."""

    event_type: ClassVar[str] = "promptworks.prompt.version_created.v1"
    version_id: UUID
    number: int = Field(ge=1)
    label: str | None = Field(default=None, max_length=50)
    template: PromptTemplate
    variables: list[VariableSpec] = Field(default_factory=list)
    default_model: ModelRef | None = None
    default_parameters: ModelParameters | None = None
    commit_message: str = ""
    author: str = ""
    origin: VersionOrigin | None = Field(
        default=None, description="Where it came from (optimisation advice); null: by hand."
    )


class PromptLabelMoved(_PromptEvent):
    """A movable pointer (``production``, ``staging``, custom) now points at a version."""

    event_type: ClassVar[str] = "promptworks.prompt.label_moved.v1"
    label: str = Field(pattern=LABEL_PATTERN)
    version_id: UUID
    version_number: int = Field(ge=1)
    previous_version_number: int | None = None
    message: str = ""


class PromptLabelRemoved(_PromptEvent):
    event_type: ClassVar[str] = "promptworks.prompt.label_removed.v1"
    label: str = Field(pattern=LABEL_PATTERN)
    previous_version_number: int = Field(ge=1)
    message: str = ""


class PromptCurrentVersionSet(_PromptEvent):
    """The prompt's current version moved to an existing version: a rollback (or forward)."""

    event_type: ClassVar[str] = "promptworks.prompt.current_version_set.v1"
    version_id: UUID
    version_number: int = Field(ge=1)
    previous_version_number: int = Field(ge=1)
    message: str = ""


class PromptMetadataEdited(_PromptEvent):
    """The prompt's metadata after the edit (every field), and which fields changed."""

    event_type: ClassVar[str] = "promptworks.prompt.metadata_edited.v1"
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    author: str = ""
    class_id: UUID | None = None
    tag_ids: list[UUID] = Field(default_factory=list)
    changed: list[str] = Field(default_factory=list)
    message: str = ""


class PromptArchived(_PromptEvent):
    """Hidden from default lists; its history and versions stay (there is no hard delete)."""

    event_type: ClassVar[str] = "promptworks.prompt.archived.v1"
    message: str = ""


class PromptRestored(_PromptEvent):
    event_type: ClassVar[str] = "promptworks.prompt.restored.v1"
    message: str = ""


class _ClassEvent(DomainEvent):
    topic: ClassVar[str] = PROMPT_EVENTS
    class_id: UUID
    actor: str = ""

    def stream_id(self) -> str:
        return str(self.class_id)


class PromptClassCreated(_ClassEvent, ProjectScoped):
    event_type: ClassVar[str] = "promptworks.prompt_class.created.v1"
    name: str = Field(min_length=1, max_length=200)
    description: str = ""


class PromptClassUpdated(_ClassEvent):
    """The class's name and description after the change (a rename included)."""

    event_type: ClassVar[str] = "promptworks.prompt_class.updated.v1"
    name: str = Field(min_length=1, max_length=200)
    description: str = ""


class PromptClassDeleted(_ClassEvent):
    """Only a class no prompt uses is deleted (prompts are moved out first, each by an edit)."""

    event_type: ClassVar[str] = "promptworks.prompt_class.deleted.v1"


class _TagEvent(DomainEvent):
    topic: ClassVar[str] = PROMPT_EVENTS
    tag_id: UUID
    actor: str = ""

    def stream_id(self) -> str:
        return str(self.tag_id)


COLOR_PATTERN = r"^#[0-9A-Fa-f]{6}$"


class PromptTagCreated(_TagEvent, ProjectScoped):
    event_type: ClassVar[str] = "promptworks.prompt_tag.created.v1"
    name: str = Field(min_length=1, max_length=100)
    color: str = Field(pattern=COLOR_PATTERN)


class PromptTagUpdated(_TagEvent):
    """The tag's name and colour after the change."""

    event_type: ClassVar[str] = "promptworks.prompt_tag.updated.v1"
    name: str = Field(min_length=1, max_length=100)
    color: str = Field(pattern=COLOR_PATTERN)


class PromptTagDeleted(_TagEvent):
    """Only a tag no prompt uses is deleted (detaching edits each prompt first)."""

    event_type: ClassVar[str] = "promptworks.prompt_tag.deleted.v1"
