"""Request bodies of the prompt writes: create, add a version, edit, the combined update, move
a label, roll back, archive and restore.

The command service (prompt-service) validates them and turns them into commands; query-api
documents them on the public paths it forwards. Rules between fields (``content`` or
``messages``, ``class_id`` or ``class_name``) are the command service's: they need its domain.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict
from pydantic_core import PydanticCustomError

from promptworks_contracts.values import (
    MAX_PROMPT_CONTENT_CHARS,
    ChatMessage,
    ModelParameters,
    ModelRef,
    VariableSpec,
    VersionOrigin,
)

JsonInt = Annotated[int, Strict()]
"""An integer in a request body: a JSON number without a fraction. ``true`` is not 1 and
``"3"`` is not 3 (pydantic's lax mode would take both)."""
JsonFloat = Annotated[float, Strict()]
"""A number in a request body: ``1`` and ``0.5`` are, ``true`` and ``"0.5"`` are not."""


def not_blank(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise PydanticCustomError(
            "string_pattern_mismatch", "must not be blank: give at least one non-space character"
        )
    return stripped


def _empty_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(not_blank)]
TagName = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(not_blank)]
_ClassNameText = Annotated[str, Field(max_length=200), AfterValidator(str.strip)]
ClassName = Annotated[_ClassNameText | None, BeforeValidator(_empty_is_none)]
Message = Annotated[str, Field(max_length=2000, description="Why: kept in the history")]


class Body(BaseModel):
    """A request body: a field the API does not know is refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


class VersionFields(Body):
    """A version as clients write it: ``content`` (text) or ``messages`` (chat), not both."""

    version: str | None = Field(
        default=None, max_length=50, description="Free-text label such as v1.2"
    )
    content: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_PROMPT_CONTENT_CHARS,
        description=f"A text prompt (at most {MAX_PROMPT_CONTENT_CHARS:,} characters)",
    )
    messages: list[ChatMessage] | None = Field(
        default=None, min_length=1, max_length=200, description="A chat prompt"
    )
    variables: list[VariableSpec] = Field(default_factory=list, max_length=100)
    model: ModelRef | None = None
    parameters: ModelParameters | None = None
    commit_message: str = Field(default="", max_length=2000)

    def has_content(self) -> bool:
        return self.content is not None or self.messages is not None


class ReferenceFields(Body):
    """A prompt's class (by id or by name; created if new) and tags (by name or by id)."""

    class_id: UUID | None = None
    class_name: ClassName = Field(default=None, description="Created if no class has it")
    tags: list[TagName] | None = Field(default=None, max_length=50, description="Tag names")
    tag_ids: list[UUID] | None = Field(default=None, max_length=50)


class CreatePromptRequest(VersionFields, ReferenceFields):
    """A prompt with its first version: ``content`` (text) or ``messages`` (chat)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "greeting",
                    "description": "Greets a user by name",
                    "author": "ann",
                    "class_name": "demo",
                    "tags": ["onboarding"],
                    "version": "v1",
                    "content": "Say hello to {{ name }}",
                    "variables": [{"name": "name"}],
                    "commit_message": "first version",
                }
            ]
        }
    )

    name: Name
    description: str = Field(default="", max_length=5000)
    author: str = Field(default="", max_length=200)


class CreateVersionRequest(VersionFields):
    """A new immutable version; it becomes the current one."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"content": "Say hi to {{ name }}", "commit_message": "shorter"}]
        }
    )

    author: str = Field(default="", max_length=200, description="Defaults to the X-Actor")
    origin: VersionOrigin | None = Field(
        default=None,
        description="Where the version came from when not typed by hand (the optimisation "
        "advice whose revision it saves); kept with the version.",
    )


class EditPromptRequest(ReferenceFields):
    """Fields left out keep their value; ``class_id``/``class_name`` null or "" mean no class."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"description": "Greets warmly", "message": "clearer"}]}
    )

    name: Name | None = None
    description: str | None = Field(default=None, max_length=5000)
    author: str | None = Field(default=None, max_length=200)
    message: Message = ""


class UpdatePromptRequest(EditPromptRequest, VersionFields):
    """PUT: the edit, plus ``content``/``messages`` (a new version), plus a rollback."""

    activate_version_id: UUID | None = None


class VersionTargetRequest(Body):
    """The version a label points at, or to make current: by number or by id."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"version_number": 1}]})

    version_number: JsonInt | None = Field(default=None, ge=1)
    version_id: UUID | None = None
    message: Message = ""


class MessageRequest(Body):
    """Why (optional): kept in the history."""

    message: Message = ""


class RenderTemplateRequest(Body):
    """A template not saved yet (the one being typed in an editor) rendered with given values:
    ``template`` (text) or ``messages`` (chat), not both. Same renderer and size limits as a
    stored version; nothing is written."""

    template: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_PROMPT_CONTENT_CHARS,
        description=f"A text template (at most {MAX_PROMPT_CONTENT_CHARS:,} characters)",
    )
    messages: list[ChatMessage] | None = Field(
        default=None, min_length=1, max_length=200, description="A chat template"
    )
    variables: dict[str, Any] = Field(default_factory=dict, description="Values by name")
    declared: list[VariableSpec] = Field(
        default_factory=list,
        max_length=100,
        description="The variables the version declares: defaults and optional ones apply",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"template": "Say hi to {{ name }}", "variables": {"name": "Ann"}}]
        },
    )
