"""Commands on prompts: what a caller asks prompt-service to do (plain, validated data).

Every command names its ``actor`` (copied into every event it causes) and, when it writes to an
existing stream, the ``expected_version`` the caller last saw (``None``: whatever is current).
"""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from promptworks_contracts.events.prompt import COLOR_PATTERN
from promptworks_contracts.values import ModelParameters, ModelRef, PromptTemplate, VariableSpec


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


class CreateClass(_Command):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)


class UpdateClass(_Write):
    class_id: UUID
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)


class DeleteClass(_Write):
    """``detach``: move every prompt out of the class first (each by an edit)."""

    class_id: UUID
    detach: bool = False


class CreateTag(_Command):
    name: str = Field(min_length=1, max_length=100)
    color: str = Field(pattern=COLOR_PATTERN)


class UpdateTag(_Write):
    tag_id: UUID
    name: str | None = Field(default=None, min_length=1, max_length=100)
    color: str | None = Field(default=None, pattern=COLOR_PATTERN)


class DeleteTag(_Write):
    """``detach``: remove the tag from every prompt first (each by an edit)."""

    tag_id: UUID
    detach: bool = False
