"""The provider catalog over HTTP: register, change, remove, list; presets.

Credentials go in (``api_key`` is encrypted at rest, or ``api_key_env`` / ``api_key_file``
name where the operator mounted it) and never come out: no response carries a key.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from promptworks_contracts.api.providers import (
    ChangeProviderRequest,
    CredentialIn,
    RegisterProviderRequest,
)
from promptworks_contracts.events import CredentialRef, ProviderState
from promptworks_contracts.values import ModelLimits, ModelSpec
from promptworks_eventkit.actor import Actor
from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.http import Context, PositionOut, positions_out
from promptworks_eventkit.writing.port import WritePort
from run_orchestrator.domain.presets import PRESETS
from run_orchestrator.domain.providers import CredentialInput
from run_orchestrator.handlers.ports import RunRepository
from run_orchestrator.handlers.providers import ProviderAccepted, ProviderCommands
from run_orchestrator.providers.registry import ProviderRegistry

router = APIRouter(tags=["providers"])


def credential(body: CredentialIn) -> CredentialInput | None:
    """The credential the body gives, or None when it gives none."""
    if body.api_key is None and body.api_key_env is None and body.api_key_file is None:
        return None
    key = None if body.api_key is None else body.api_key.get_secret_value()
    return CredentialInput(key, body.api_key_env, body.api_key_file)


def registered_state(body: RegisterProviderRequest) -> ProviderState:
    preset = None
    if body.preset is not None:
        preset = PRESETS.get(body.preset)
        if preset is None:
            raise DomainError(
                f"no preset {body.preset!r}; presets: {sorted(PRESETS)}",
                field="preset",
                rule="unknown",
            )
    models = dict(body.models)
    if preset is not None:
        models = {**{name: ModelSpec() for name in preset.models}, **models}
    return ProviderState(
        name=body.name,
        kind=body.kind or (preset.kind if preset else "openai"),
        base_url=body.base_url or (preset.base_url if preset else None),
        credential=CredentialRef(source="none"),
        timeout_seconds=body.timeout_seconds,
        max_concurrency=body.max_concurrency,
        limits=body.limits,
        models=models,
    )


def changes(body: ChangeProviderRequest) -> dict[str, Any]:
    fields = ("base_url", "timeout_seconds", "max_concurrency", "limits", "models")
    return {
        name: getattr(body, name)
        for name in fields
        if name in body.model_fields_set and getattr(body, name) is not None
    }


class ProviderOut(BaseModel):
    name: str
    kind: str
    source: Literal["builtin", "config", "catalog"]
    base_url: str | None = Field(default=None, description="Catalog providers only")
    credential: CredentialRef | None = Field(
        default=None, description="Where the key is kept (never the key)"
    )
    timeout_seconds: float | None = None
    max_concurrency: int | None = None
    limits: ModelLimits | None = None
    models: dict[str, ModelSpec] = Field(default_factory=dict)


class ProviderWritten(ProviderOut):
    positions: list[PositionOut]


class PresetOut(BaseModel):
    name: str
    kind: str
    base_url: str
    models: list[str]
    credential_env: str | None
    notes: str


async def _commands(request: Request) -> ProviderCommands:
    commands: ProviderCommands = request.app.state.provider_commands
    return commands


async def _port(request: Request) -> WritePort[RunRepository]:
    port: WritePort[RunRepository] = request.app.state.port
    return port


async def _registry(request: Request) -> ProviderRegistry:
    registry: ProviderRegistry = request.app.state.providers
    return registry


Commands = Annotated[ProviderCommands, Depends(_commands)]
Port = Annotated[WritePort[RunRepository], Depends(_port)]
Registry = Annotated[ProviderRegistry, Depends(_registry)]


def _written(accepted: ProviderAccepted) -> ProviderWritten:
    return ProviderWritten(
        **_catalog_out(accepted.state).model_dump(), positions=positions_out(accepted.positions)
    )


def _catalog_out(state: ProviderState) -> ProviderOut:
    return ProviderOut(
        name=state.name,
        kind=state.kind,
        source="catalog",
        base_url=state.base_url,
        credential=state.credential,
        timeout_seconds=state.timeout_seconds,
        max_concurrency=state.max_concurrency,
        limits=state.limits,
        models=state.models,
    )


@router.get("/providers", response_model=list[ProviderOut])
async def list_providers(registry: Registry, port: Port, context: Context) -> list[ProviderOut]:
    """The built-in mock, the PROVIDERS configuration (names, kinds and the listed models'
    prices and limits) and the request's project's catalog."""
    async with port.transaction() as tx:
        catalog = await tx.repos.list_providers(context.project)
    configured = [
        ProviderOut(
            name=p.name,
            kind=p.kind,
            source="builtin" if p.kind == "mock" else "config",
            models=dict(p.models),
        )
        for p in registry.describe_configured()
    ]
    return [*configured, *(_catalog_out(p.state) for p in catalog)]


@router.get("/provider-presets", response_model=list[PresetOut])
async def list_presets() -> list[PresetOut]:
    return [
        PresetOut(
            name=name,
            kind=p.kind,
            base_url=p.base_url,
            models=list(p.models),
            credential_env=p.credential_env,
            notes=p.notes,
        )
        for name, p in sorted(PRESETS.items())
    ]


@router.post("/providers", status_code=201, response_model=ProviderWritten)
async def register_provider(
    body: RegisterProviderRequest, commands: Commands, actor: Actor, context: Context
) -> ProviderWritten:
    given = credential(body) or CredentialInput()
    accepted = await commands.register(registered_state(body), given, actor, context)
    return _written(accepted)


@router.patch("/providers/{name}", response_model=ProviderWritten)
async def change_provider(
    name: str, body: ChangeProviderRequest, commands: Commands, actor: Actor, context: Context
) -> ProviderWritten:
    accepted = await commands.change(name, changes(body), credential(body), actor, context)
    return _written(accepted)


@router.delete("/providers/{name}", status_code=204)
async def remove_provider(
    name: str, commands: Commands, actor: Actor, context: Context
) -> Response:
    await commands.remove(name, actor, context)
    return Response(status_code=204)
