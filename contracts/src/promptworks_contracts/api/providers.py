"""Request bodies of the provider catalog: ``POST /providers``, ``PATCH /providers/{name}``.

A credential goes in one of three ways (``api_key``, stored encrypted; ``api_key_env``;
``api_key_file``) and never comes out. run-orchestrator checks the rest (the base URL's
addresses, which references the operator allows).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from promptworks_contracts.api.runs import PROVIDER_NAME_PATTERN
from promptworks_contracts.values import ModelLimits, ModelSpec


class CredentialIn(BaseModel):
    api_key: SecretStr | None = Field(
        default=None, description="Stored encrypted with the operator's PROVIDER_SECRET_KEY."
    )
    api_key_env: str | None = Field(
        default=None, max_length=200, description="An environment variable the operator set."
    )
    api_key_file: str | None = Field(
        default=None, max_length=200, description="A file in the operator's secrets directory."
    )


class RegisterProviderRequest(CredentialIn):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=PROVIDER_NAME_PATTERN)
    preset: str | None = Field(
        default=None,
        description="Fill kind, base_url and models from a preset (GET /provider-presets)",
    )
    kind: Literal["openai", "anthropic"] | None = None
    base_url: str | None = Field(default=None, min_length=1, max_length=2000)
    timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    max_concurrency: int | None = Field(default=None, ge=1, le=10_000)
    limits: ModelLimits = ModelLimits()
    models: dict[str, ModelSpec] = Field(default_factory=dict, max_length=1000)


class ChangeProviderRequest(CredentialIn):
    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(default=None, min_length=1, max_length=2000)
    timeout_seconds: float | None = Field(default=None, gt=0, le=3600)
    max_concurrency: int | None = Field(default=None, ge=1, le=10_000)
    limits: ModelLimits | None = None
    models: dict[str, ModelSpec] | None = Field(
        default=None, max_length=1000, description="Replaces the whole model list."
    )
