"""Commands on prompts: what a caller asks prompt-service to do (plain, validated data).

Every command names its ``actor`` (copied into every event it causes) and, when it writes to an
existing stream, the ``expected_version`` the caller last saw (``None``: whatever is current).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from promptworks_contracts.values import (
    ModelParameters,
    ModelRef,
    PromptTemplate,
    VariableSpec,
    VersionOrigin,
)
from promptworks_eventkit.errors import DomainError

T = TypeVar("T")


def validated(build: Callable[[], T]) -> T:
    """Builds a command (or an event); a value it refuses is a ``DomainError`` naming the field
    and the rule, never a bare validation error."""
    try:
        return build()
    except ValidationError as error:
        first = error.errors()[0]
        raise DomainError(
            first["msg"], field=".".join(str(p) for p in first["loc"]), rule=first["type"]
        ) from error


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Command(_Value):
    actor: str = Field(default="", max_length=200)


class _Write(_Command):
    expected_version: int | None = Field(default=None, ge=0)


class VersionContent(_Value):
    """What every new version carries."""

    label: str | None = Field(default=None, max_length=50, description="Free text, e.g. v1.2")
    template: PromptTemplate
    variables: list[VariableSpec] = Field(default_factory=list, max_length=100)
    default_model: ModelRef | None = None
    default_parameters: ModelParameters | None = None
    commit_message: str = Field(default="", max_length=2000)
    author: str = Field(default="", max_length=200)
    origin: VersionOrigin | None = None


class ClassRef(_Value):
    """Which class a prompt belongs to: by id, or by name (created if new); neither: none."""

    class_id: UUID | None = None
    class_name: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_of(self) -> ClassRef:
        if self.class_id is not None and self.class_name is not None:
            raise ValueError("give class_id or class_name, not both")
        return self


class TagRefs(_Value):
    """A prompt's tags: by id, or by name; every one must exist."""

    tag_ids: tuple[UUID, ...] | None = Field(default=None, max_length=50)
    names: tuple[str, ...] | None = Field(default=None, max_length=50)

    @model_validator(mode="after")
    def _one_of(self) -> TagRefs:
        if self.tag_ids is not None and self.names is not None:
            raise ValueError("give tag_ids or tags, not both")
        return self


class VersionSelector(_Value):
    """An existing version, by number or by id (exactly one)."""

    version_number: int | None = Field(default=None, ge=1)
    version_id: UUID | None = None


class CreatePrompt(_Command):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    author: str = Field(default="", max_length=200)
    class_ref: ClassRef = ClassRef()
    tags: TagRefs = TagRefs()
    first_version: VersionContent


class CreateVersion(_Write):
    prompt_id: UUID
    content: VersionContent


class EditPrompt(_Write):
    """Metadata changes; a field left ``None`` keeps its value."""

    prompt_id: UUID
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    author: str | None = Field(default=None, max_length=200)
    class_ref: ClassRef | None = None
    tags: TagRefs | None = None
    message: str = Field(default="", max_length=2000)


class UpdatePrompt(_Value):
    """The original product's combined update: edit, new version and rollback in one append
    (the actor and the expected version are the edit's)."""

    edit: EditPrompt
    new_version: VersionContent | None = None
    activate_version_id: UUID | None = None


class MoveLabel(_Write):
    prompt_id: UUID
    label: str
    target: VersionSelector
    message: str = Field(default="", max_length=2000)


class RemoveLabel(_Write):
    prompt_id: UUID
    label: str
    message: str = Field(default="", max_length=2000)


class SetCurrentVersion(_Write):
    prompt_id: UUID
    target: VersionSelector
    message: str = Field(default="", max_length=2000)


class ArchivePrompt(_Write):
    prompt_id: UUID
    message: str = Field(default="", max_length=2000)


class RestorePrompt(_Write):
    prompt_id: UUID
    message: str = Field(default="", max_length=2000)


class CreateTerm(_Command):
    """A new class or tag (``taxonomy``): its name and its extra attribute (a class's
    description, a tag's colour). What only one kind allows (a tag's name length, a colour's
    pattern) the request schema checks, and the event again (``taxonomy``)."""

    name: str = Field(min_length=1, max_length=200)
    extra: str = Field(default="", max_length=5000)


class UpdateTerm(_Write):
    """A rename and/or a new extra attribute; a field left ``None`` keeps its value."""

    term_id: UUID
    name: str | None = Field(default=None, min_length=1, max_length=200)
    extra: str | None = Field(default=None, max_length=5000)


class DeleteTerm(_Write):
    """``detach``: first edit every prompt out of the class or tag (one edit each)."""

    term_id: UUID
    detach: bool = False
