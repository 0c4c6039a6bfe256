"""HTTP request and response bodies of the prompt endpoints (kept apart from tables and events).

Request bodies turn into commands here; a rule between fields (``content`` or ``messages``,
``class_id`` or ``class_name``) is a ``DomainError`` naming the field, never a bare 422.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from prompt_service.domain.commands import ClassRef, TagRefs, VersionContent, VersionSelector
from promptworks_contracts.values import (
    MAX_PROMPT_CONTENT_CHARS,
    ChatMessage,
    ChatTemplate,
    ModelParameters,
    ModelRef,
    TextTemplate,
    VariableSpec,
)
from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.http import JsonInt, PositionOut


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

    def version_content(self, author: str) -> VersionContent:
        if self.content is not None and self.messages is not None:
            raise DomainError(
                "give content (a text prompt) or messages (a chat prompt), not both",
                field="messages",
                rule="exclusive",
            )
        if not self.has_content():
            raise DomainError(
                "give the version's content (a text prompt) or messages (a chat prompt)",
                field="content",
                rule="missing",
            )
        template = (
            ChatTemplate(messages=self.messages)
            if self.messages is not None
            else TextTemplate(text=self.content or "")
        )
        return VersionContent(
            label=self.version,
            template=template,
            variables=self.variables,
            default_model=self.model,
            default_parameters=self.parameters,
            commit_message=self.commit_message,
            author=author,
        )


class ReferenceFields(Body):
    """A prompt's class (by id or by name; created if new) and tags (by name or by id)."""

    class_id: UUID | None = None
    class_name: ClassName = Field(default=None, description="Created if no class has it")
    tags: list[TagName] | None = Field(default=None, max_length=50, description="Tag names")
    tag_ids: list[UUID] | None = Field(default=None, max_length=50)

    def class_ref(self) -> ClassRef | None:
        """``None`` when the body does not mention a class; ``ClassRef()`` for no class."""
        if self.class_id is not None and self.class_name is not None:
            raise DomainError(
                "give class_id or class_name, not both", field="class_name", rule="exclusive"
            )
        if not {"class_id", "class_name"} & self.model_fields_set:
            return None
        return ClassRef(class_id=self.class_id, class_name=self.class_name)

    def tag_refs(self) -> TagRefs | None:
        if self.tags is not None and self.tag_ids is not None:
            raise DomainError("give tags or tag_ids, not both", field="tag_ids", rule="exclusive")
        if self.tags is None and self.tag_ids is None:
            return None
        names = tuple(self.tags) if self.tags is not None else None
        ids = tuple(self.tag_ids) if self.tag_ids is not None else None
        return TagRefs(names=names, tag_ids=ids)


class CreatePromptRequest(VersionFields, ReferenceFields):
    name: Name
    description: str = Field(default="", max_length=5000)
    author: str = Field(default="", max_length=200)


class CreateVersionRequest(VersionFields):
    author: str = Field(default="", max_length=200, description="Defaults to the X-Actor")


class EditPromptRequest(ReferenceFields):
    """Fields left out keep their value; ``class_id``/``class_name`` null or "" mean no class."""

    name: Name | None = None
    description: str | None = Field(default=None, max_length=5000)
    author: str | None = Field(default=None, max_length=200)
    message: Message = ""


class UpdatePromptRequest(EditPromptRequest, VersionFields):
    """PUT: the edit, plus ``content``/``messages`` (a new version), plus a rollback."""

    activate_version_id: UUID | None = None


class VersionTargetRequest(Body):
    version_number: JsonInt | None = Field(default=None, ge=1)
    version_id: UUID | None = None
    message: Message = ""

    def target(self) -> VersionSelector:
        return VersionSelector(version_number=self.version_number, version_id=self.version_id)


class MessageRequest(Body):
    message: Message = ""


class WarningModel(BaseModel):
    field: str
    type: str
    msg: str


class WriteResponse(BaseModel):
    stream_version: int = Field(description="The main stream's version; send it as If-Match")
    positions: list[PositionOut] = Field(
        description="Every stream this command appended to, in order (empty: nothing changed)"
    )


class VersionCreatedResponse(WriteResponse):
    prompt_id: UUID
    version_id: UUID
    version_number: int
    class_id: UUID | None
    tag_ids: list[UUID]
    warnings: list[WarningModel]


class PromptResponse(WriteResponse):
    prompt_id: UUID
    name: str
    description: str
    author: str
    class_id: UUID | None
    tag_ids: list[UUID]
    labels: dict[str, int]
    current_version: int
    latest_version: int
    archived: bool
    version_id: UUID | None = Field(default=None, description="The version PUT created")
    version_number: int | None = None
    warnings: list[WarningModel] = Field(default_factory=list)
