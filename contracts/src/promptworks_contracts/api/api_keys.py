"""Request body of ``POST /api/v1/api-keys``: who the key is for, what it may do, until when."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, ConfigDict, Field

from promptworks_contracts.api.prompts import Body
from promptworks_contracts.projects import DEFAULT_PROJECT, PROJECT_PATTERN

ProjectId = Annotated[str, Field(pattern=PROJECT_PATTERN)]
MAX_PROJECTS_PER_KEY = 1000

Scope = Literal["read", "prompts:write", "runs:write", "providers:admin", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "prompts:write", "runs:write", "providers:admin", "admin")
"""``admin`` grants every other scope and manages keys."""


class CreateApiKeyRequest(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "ci", "owner": "ci@example.com", "scopes": ["read", "runs:write"]}
            ]
        }
    )

    name: Annotated[str, Field(min_length=1, max_length=200, description="What the key is for")]
    owner: Annotated[
        str | None,
        Field(
            default=None,
            min_length=1,
            max_length=200,
            description="Who holds it; the actor recorded in events (default: the name)",
        ),
    ] = None
    scopes: Annotated[
        list[Scope], Field(min_length=1, max_length=len(SCOPES), description="What it may do")
    ]
    expires_at: Annotated[
        AwareDatetime | None,
        Field(
            default=None, description="When it stops working (with a time zone); never if absent"
        ),
    ] = None
    may_set_actor: Annotated[
        bool,
        Field(
            default=False,
            description="A service key (e.g. a frontend that signs its users in itself): its "
            "`X-Actor` header names the actor. Other keys are their own actor.",
        ),
    ] = False
    projects: Annotated[
        list[ProjectId],
        Field(
            default_factory=lambda: [DEFAULT_PROJECT],
            min_length=1,
            max_length=MAX_PROJECTS_PER_KEY,
            description="The projects it reaches (each must exist); the first is the one a "
            "request without `X-Project` acts in. A key with the `admin` scope reaches every "
            "project.",
        ),
    ]
