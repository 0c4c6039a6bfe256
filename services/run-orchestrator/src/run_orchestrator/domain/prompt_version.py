"""The prompt version a run uses, as kept in the local copy (``prompt_versions``)."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict

from promptworks_contracts.projects import DEFAULT_PROJECT
from promptworks_contracts.values import ModelParameters, ModelRef, PromptTemplate, VariableSpec


class PromptVersion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    version_id: UUID
    prompt_id: UUID
    number: int
    template: PromptTemplate
    variables: list[VariableSpec]
    default_model: ModelRef | None = None
    default_parameters: ModelParameters | None = None
    project_id: str = DEFAULT_PROJECT
    """The project of its prompt: a run uses only versions of its own project."""
