"""Commands: what a caller asks prompt-service to do (plain, validated data)."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from promptworks_contracts.values import ModelParameters, ModelRef, PromptTemplate, VariableSpec


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VersionContent(_Command):
    """What every new version carries."""

    label: str | None = Field(default=None, max_length=50, description="Free text, e.g. v1.2")
    template: PromptTemplate
    variables: list[VariableSpec] = Field(default_factory=list, max_length=100)
    default_model: ModelRef | None = None
    default_parameters: ModelParameters | None = None
    commit_message: str = Field(default="", max_length=2000)
    author: str = Field(default="", max_length=200)


class CreatePrompt(_Command):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    author: str = Field(default="", max_length=200)
    class_name: str | None = Field(default=None, min_length=1, max_length=200)
    tags: list[str] = Field(default_factory=list, max_length=50)
    first_version: VersionContent

    @field_validator("name", "class_name")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value.strip() if value is not None else None


class CreateVersion(_Command):
    prompt_id: UUID
    content: VersionContent
    expected_version: int | None = None
