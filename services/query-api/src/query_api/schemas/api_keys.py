"""API keys as the API answers them: never the secret, except once, when it is created."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field


class ApiKeyOut(BaseModel):
    id: UUID
    name: str
    owner: str = Field(description="The actor its writes record")
    prefix: str = Field(description="The secret's first characters, to tell keys apart")
    scopes: list[str]
    projects: list[str] = Field(
        description="The projects it reaches, its default first (an `admin` key: every project)"
    )
    may_set_actor: bool
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> ApiKeyOut:
        return cls.model_validate({k: v for k, v in row.items() if k != "secret_digest"})


class CreatedApiKey(ApiKeyOut):
    secret: str = Field(
        description="The key itself, shown this once: only its digest is stored, so it cannot "
        "be read again. Send it as `Authorization: Bearer <secret>` or `X-API-Key: <secret>`."
    )


class ApiKeyList(BaseModel):
    items: list[ApiKeyOut]
