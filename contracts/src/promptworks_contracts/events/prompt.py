"""Events of the prompt aggregate (stream id = prompt id), emitted by prompt-service."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import Field

from promptworks_contracts.events.base import DomainEvent
from promptworks_contracts.topics import PROMPT_EVENTS
from promptworks_contracts.values import ModelParameters, ModelRef, PromptTemplate, VariableSpec


class _PromptEvent(DomainEvent):
    topic: ClassVar[str] = PROMPT_EVENTS
    prompt_id: UUID

    def stream_id(self) -> str:
        return str(self.prompt_id)


class PromptCreated(_PromptEvent):
    event_type: ClassVar[str] = "promptworks.prompt.created.v1"
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    author: str = ""
    class_name: str | None = None
    tags: list[str] = Field(default_factory=list)


class PromptVersionCreated(_PromptEvent):
    """An immutable version. ``number`` counts from 1 without gaps; ``label`` is free text."""

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
