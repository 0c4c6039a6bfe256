"""Events of the provider catalog (stream id = provider id), emitted by run-orchestrator.

A provider's credential never travels in an event: ``credential`` says where it is kept
(an environment variable or a mounted file, by name, or encrypted in run-orchestrator's own
database), never what it is.
"""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from promptworks_contracts.events.base import DomainEvent
from promptworks_contracts.projects import ProjectScoped
from promptworks_contracts.topics import RUN_EVENTS
from promptworks_contracts.values import ModelLimits, ModelSpec

ProviderKind = Literal["openai", "anthropic", "mock"]


class CredentialRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    source: Literal["none", "env", "file", "encrypted"]
    name: str | None = Field(
        default=None, max_length=200, description="The variable or file name (env, file)."
    )


class ProviderState(BaseModel):
    """Everything the catalog knows about one provider, as of an event."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    kind: ProviderKind
    base_url: str | None = Field(default=None, max_length=2000)
    credential: CredentialRef
    timeout_seconds: float = Field(gt=0)
    max_concurrency: int | None = Field(default=None, ge=1)
    limits: ModelLimits = ModelLimits()
    models: dict[str, ModelSpec] = Field(default_factory=dict)


class _ProviderEvent(DomainEvent):
    topic: ClassVar[str] = RUN_EVENTS
    provider_id: UUID
    actor: str = ""

    def stream_id(self) -> str:
        return str(self.provider_id)


class ProviderRegistered(_ProviderEvent, ProjectScoped):
    event_type: ClassVar[str] = "promptworks.provider.registered.v1"
    provider: ProviderState


class ProviderChanged(_ProviderEvent):
    """The provider's whole state after the change, and which fields changed."""

    event_type: ClassVar[str] = "promptworks.provider.changed.v1"
    provider: ProviderState
    changed: list[str]


class ProviderRemoved(_ProviderEvent):
    event_type: ClassVar[str] = "promptworks.provider.removed.v1"
    name: str
