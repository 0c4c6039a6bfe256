"""HTTP request and response bodies of prompt-service (kept apart from tables and events)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from prompt_service.domain.commands import VersionContent
from promptworks_contracts.values import (
    MAX_PROMPT_CONTENT_CHARS,
    ChatMessage,
    ChatTemplate,
    ModelParameters,
    ModelRef,
    TextTemplate,
    VariableSpec,
)


class VersionFields(BaseModel):
    """A version as clients write it: ``content`` (text) or ``messages`` (chat), not both."""

    model_config = ConfigDict(extra="forbid")

    version: str | None = Field(
        default=None, max_length=50, description="Free-text label such as v1.2"
    )
    content: str | None = Field(
        default=None, min_length=1, max_length=MAX_PROMPT_CONTENT_CHARS, description="A text prompt"
    )
    messages: list[ChatMessage] | None = Field(
        default=None, min_length=1, max_length=200, description="A chat prompt"
    )
    variables: list[VariableSpec] = Field(default_factory=list, max_length=100)
    model: ModelRef | None = None
    parameters: ModelParameters | None = None
    commit_message: str = Field(default="", max_length=2000)

    @model_validator(mode="before")
    @classmethod
    def _one_content(cls, data: Any) -> Any:
        if isinstance(data, dict):
            has_text, has_chat = data.get("content") is not None, data.get("messages") is not None
            if has_text == has_chat:
                raise ValueError("give exactly one of `content` (text) or `messages` (chat)")
        return data

    def version_content(self, author: str) -> VersionContent:
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


class CreatePromptRequest(VersionFields):
    name: str = Field(min_length=1, max_length=200, pattern=r"\S")
    description: str = Field(default="", max_length=5000)
    author: str = Field(default="", max_length=200)
    class_name: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"\S")
    tags: list[str] = Field(default_factory=list, max_length=50)


class CreateVersionRequest(VersionFields):
    author: str = Field(default="", max_length=200)


class VersionCreatedResponse(BaseModel):
    prompt_id: UUID
    version_id: UUID
    version_number: int
    stream_version: int = Field(description="The prompt stream's version; send it as If-Match")
