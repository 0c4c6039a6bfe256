"""The prompt version a run uses, as kept in the local copy (``prompt_versions``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from promptworks_contracts.events import PromptVersionCreated
from promptworks_contracts.values import PromptTemplate, VariableSpec


class PromptVersion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    version_id: UUID
    prompt_id: UUID
    number: int
    template: PromptTemplate
    variables: list[VariableSpec]


def version_row(event: PromptVersionCreated) -> dict[str, Any]:
    """The ``prompt_versions`` row of a PromptVersionCreated (JSON columns as plain data)."""

    def dump(value: BaseModel | None) -> Any:
        return None if value is None else value.model_dump(mode="json")

    return {
        "version_id": event.version_id,
        "prompt_id": event.prompt_id,
        "number": event.number,
        "label": event.label,
        "template": event.template.model_dump(mode="json"),
        "variables": [v.model_dump(mode="json") for v in event.variables],
        "default_model": dump(event.default_model),
        "default_parameters": dump(event.default_parameters),
    }
