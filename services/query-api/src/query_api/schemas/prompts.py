"""Response bodies of the prompt endpoints (apart from the read-model tables and the events).

Field names follow the original PromptWorks backend where it had the field (``current_version``,
``versions``, ``tags``, ``class`` ...), so its frontend keeps working. Every timestamp is UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, computed_field

from promptworks_contracts.values import (
    ChatMessage,
    ModelParameters,
    ModelRef,
    PromptTemplate,
    VariableSpec,
    VersionOrigin,
)
from promptworks_eventkit.http import MAX_INT32

UtcDatetime = Annotated[datetime, AfterValidator(lambda value: value.astimezone(UTC))]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)


class VariablesReport(_Out):
    undeclared: list[str] = Field(description="Used by the template, not declared")
    unused: list[str] = Field(description="Declared, not used by the template")
    error: str | None = Field(default=None, description="Set if the template does not parse")


class VersionSummary(_Out):
    id: UUID
    number: int = Field(description="1, 2, 3 ... in creation order")
    label: str | None = Field(description="Free-text version label such as v1.2")
    created_at: UtcDatetime

    @computed_field(description="The original API's name of `label` (its frontend reads it)")
    def version(self) -> str | None:
        return self.label


class PromptVersionOut(VersionSummary):
    prompt_id: UUID
    template: PromptTemplate
    variables: list[VariableSpec]
    default_model: ModelRef | None
    default_parameters: ModelParameters | None
    commit_message: str
    author: str
    variables_report: VariablesReport
    origin: VersionOrigin | None = Field(
        default=None,
        description="Where it came from: the optimisation advice whose revision it saves; "
        "null: written by hand.",
    )

    @computed_field(
        description="The template as the original API's text (its frontend reads it): a text "
        "template's text; a chat template's messages, one `role: content` block each"
    )
    def content(self) -> str:
        if self.template.kind == "text":
            return self.template.text
        return "\n\n".join(f"{m.role}: {m.content}" for m in self.template.messages)

    @computed_field(description="As `created_at`: versions are immutable (the original field)")
    def updated_at(self) -> datetime:
        return self.created_at


class ClassRef(_Out):
    id: UUID
    name: str | None = Field(description="null while the class's own events are not applied")


class TagRef(_Out):
    id: UUID
    name: str | None = Field(description="null while the tag's own events are not applied")
    color: str | None


class PromptOut(_Out):
    id: UUID
    name: str
    description: str
    author: str
    class_ref: ClassRef | None = Field(alias="class")
    tags: list[TagRef]
    labels: dict[str, int] = Field(
        description="Label -> version number; `latest` (the highest version) included"
    )
    current_version: PromptVersionOut | None
    versions: list[VersionSummary] = Field(description="Every version, newest first")
    version_count: int
    archived: bool
    created_at: UtcDatetime
    updated_at: UtcDatetime = Field(description="When the prompt's latest event was recorded")
    stream_version: int = Field(description="Send as If-Match when writing to this prompt")

    @computed_field(description="As `class`, under the original API's name (its frontend)")
    def prompt_class(self) -> ClassRef | None:
        return self.class_ref


class PromptByLabelOut(PromptOut):
    resolved_version: PromptVersionOut = Field(description="The version the label points to")


class RenderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variables: dict[str, Any] = Field(default_factory=dict)
    version: int | None = Field(default=None, ge=1, le=MAX_INT32, description="A version number")
    label: str | None = Field(default=None, max_length=50, description="e.g. production")


class RenderPreviewOut(_Out):
    kind: Literal["text", "chat"]
    text: str | None = None
    messages: list[ChatMessage] | None = None
    missing: list[str] = Field(description="Optional variables without a value (rendered empty)")
    unused: list[str] = Field(description="Given variables the template does not use")


class RenderOut(RenderPreviewOut):
    version_number: int


class Change(_Out):
    from_: Any = Field(alias="from")
    to: Any


class ModelChange(Change):
    changed: bool


class VariableChange(Change):
    name: str


class VariablesDiff(_Out):
    added: list[VariableSpec]
    removed: list[VariableSpec]
    changed: list[VariableChange]


class ParametersDiff(_Out):
    changed: dict[str, Change]


class TemplateDiff(_Out):
    unified: str = Field(description="difflib unified diff of the two templates")


class CommitMessage(_Out):
    number: int
    message: str


class DiffOut(_Out):
    from_: int = Field(alias="from")
    to: int
    template: TemplateDiff
    label: Change
    default_model: ModelChange
    default_parameters: ParametersDiff
    variables: VariablesDiff
    commit_messages: list[CommitMessage] = Field(
        description="Commit messages of the versions after `from` up to `to` (either direction)"
    )


class HistoryEntry(_Out):
    stream_version: int
    type: str = Field(description="e.g. created, version_created, label_moved")
    actor: str
    at: UtcDatetime
    message: str
    summary: str = Field(description='A short sentence, e.g. "moved production from 2 to 3"')


class ClassOut(_Out):
    id: UUID
    name: str
    description: str
    prompt_count: int = Field(description="Prompts in the class, archived ones excluded")
    latest_prompt_updated_at: UtcDatetime | None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    stream_version: int


class TagOut(_Out):
    id: UUID
    name: str
    color: str
    prompt_count: int = Field(description="Prompts with the tag, archived ones excluded")
    created_at: UtcDatetime
    updated_at: UtcDatetime
    stream_version: int


class TagList(_Out):
    items: list[TagOut]
    tagged_prompt_total: int = Field(description="Prompts with at least one tag (not archived)")
