"""Request body of ``POST /api/v1/projects``: a project (tenant), named by a slug."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field

from promptworks_contracts.api.prompts import Body
from promptworks_contracts.projects import PROJECT_PATTERN


class CreateProjectRequest(Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": "support-bot", "name": "Support bot"}]}
    )

    id: Annotated[
        str,
        Field(
            pattern=PROJECT_PATTERN,
            description="The project's id, a slug: what `X-Project` names and keys are granted",
        ),
    ]
    name: Annotated[str, Field(min_length=1, max_length=200, description="Its display name")]
