"""/api/v1/providers and /api/v1/provider-presets: the model providers, relayed to
run-orchestrator (ADR 0011).

run-orchestrator owns the catalog and merges it with its own configuration (PROVIDERS and the
built-in mock), which no event describes; so reads are relayed too, not projected. No answer
ever carries a credential.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from promptworks_contracts.api.providers import ChangeProviderRequest, RegisterProviderRequest
from query_api.api.deps import Settings, Writes

router = APIRouter(tags=["providers"])
SERVICE = "run-orchestrator"

REGISTER_EXAMPLE: dict[str, Any] = {
    "name": "deepseek",
    "preset": "deepseek",
    "api_key_env": "DEEPSEEK_API_KEY",
    "models": {
        "deepseek-chat": {
            "pricing": {"input_per_million": "0.27", "output_per_million": "1.10"},
            "limits": {"requests_per_minute": 600},
        }
    },
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such catalog provider"},
    409: {"description": "The name is taken (or built in / configured)"},
    422: {
        "description": "A rule refused it (`field` and `type` name which): a base URL on an "
        "internal address, a credential reference the operator does not allow ..."
    },
    503: {"description": "run-orchestrator is unreachable; nothing was changed"},
}


ProviderName = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")]


def _url(settings: Settings, path: str) -> str:
    return f"{settings.run_orchestrator_url.rstrip('/')}{path}"


@router.get("/providers", summary="Providers: built in, configured and the catalog")
async def list_providers(request: Request, writes: Writes, settings: Settings) -> Response:
    return await writes.relay(request, SERVICE, _url(settings, "/providers"))


@router.get("/provider-presets", summary="Connection presets for well-known providers")
async def list_presets(request: Request, writes: Writes, settings: Settings) -> Response:
    return await writes.relay(request, SERVICE, _url(settings, "/provider-presets"))


@router.post(
    "/providers",
    status_code=201,
    summary="Register a provider in the catalog",
    responses=RESPONSES,
    openapi_extra={"requestBody": {"content": {"application/json": {"example": REGISTER_EXAMPLE}}}},
)
async def register_provider(
    request: Request, writes: Writes, settings: Settings, body: RegisterProviderRequest
) -> Response:
    return await writes.relay(request, SERVICE, _url(settings, "/providers"))


@router.patch(
    "/providers/{name}",
    summary="Change a catalog provider",
    responses=RESPONSES,
)
async def change_provider(
    name: ProviderName,
    request: Request,
    writes: Writes,
    settings: Settings,
    body: ChangeProviderRequest,
) -> Response:
    """Any of `base_url`, a credential, `timeout_seconds`, `max_concurrency`, `limits`,
    `models` (replaces the list)."""
    return await writes.relay(request, SERVICE, _url(settings, f"/providers/{name}"))


@router.delete(
    "/providers/{name}", status_code=204, summary="Remove a catalog provider", responses=RESPONSES
)
async def remove_provider(
    name: ProviderName, request: Request, writes: Writes, settings: Settings
) -> Response:
    return await writes.relay(request, SERVICE, _url(settings, f"/providers/{name}"))
