"""HTTP request and response bodies of the prompt endpoints (kept apart from tables and events).

The request bodies are the public API's (``promptworks_contracts.api.prompts``, which query-api
documents too); they turn into commands here; a rule between fields (``content`` or ``messages``,
``class_id`` or ``class_name``) is a ``DomainError`` naming the field, never a bare 422.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from prompt_service.domain.commands import ClassRef, TagRefs, VersionContent, VersionSelector
from promptworks_contracts.api.prompts import (
    CreatePromptRequest,
    CreateVersionRequest,
    EditPromptRequest,
    MessageRequest,
    ReferenceFields,
    UpdatePromptRequest,
    VersionFields,
    VersionTargetRequest,
)
from promptworks_contracts.values import ChatTemplate, TextTemplate
from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.http import PositionOut

__all__ = [
    "CreatePromptRequest",
    "CreateVersionRequest",
    "EditPromptRequest",
    "MessageRequest",
    "UpdatePromptRequest",
    "VersionTargetRequest",
]


def version_content(body: VersionFields, author: str) -> VersionContent:
    """The version a body describes: ``content`` (text) or ``messages`` (chat), not both."""
    if body.content is not None and body.messages is not None:
        raise DomainError(
            "give content (a text prompt) or messages (a chat prompt), not both",
            field="messages",
            rule="exclusive",
        )
    if not body.has_content():
        raise DomainError(
            "give the version's content (a text prompt) or messages (a chat prompt)",
            field="content",
            rule="missing",
        )
    template = (
        ChatTemplate(messages=body.messages)
        if body.messages is not None
        else TextTemplate(text=body.content or "")
    )
    return VersionContent(
        label=body.version,
        template=template,
        variables=body.variables,
        default_model=body.model,
        default_parameters=body.parameters,
        commit_message=body.commit_message,
        author=author,
    )


def class_ref(body: ReferenceFields) -> ClassRef | None:
    """``None`` when the body does not mention a class; ``ClassRef()`` for no class."""
    if body.class_id is not None and body.class_name is not None:
        raise DomainError(
            "give class_id or class_name, not both", field="class_name", rule="exclusive"
        )
    if not {"class_id", "class_name"} & body.model_fields_set:
        return None
    return ClassRef(class_id=body.class_id, class_name=body.class_name)


def tag_refs(body: ReferenceFields) -> TagRefs | None:
    if body.tags is not None and body.tag_ids is not None:
        raise DomainError("give tags or tag_ids, not both", field="tag_ids", rule="exclusive")
    if body.tags is None and body.tag_ids is None:
        return None
    names = tuple(body.tags) if body.tags is not None else None
    ids = tuple(body.tag_ids) if body.tag_ids is not None else None
    return TagRefs(names=names, tag_ids=ids)


def version_target(body: VersionTargetRequest) -> VersionSelector:
    return VersionSelector(version_number=body.version_number, version_id=body.version_id)


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
