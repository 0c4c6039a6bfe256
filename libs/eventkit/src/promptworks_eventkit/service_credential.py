"""The service credential: a command service answers its API only to callers that present the
shared secret (``Authorization: Bearer <SERVICE_TOKEN>``), i.e. query-api; every other caller
gets a 401 in the problem shape, before any handler runs or any body is read.

Fail closed: with no token configured, every API call is refused. Health, readiness, metrics
and the OpenAPI document stay open (probes and scrapers carry no credential). Because only a
trusted caller gets through, the ``X-Actor`` such a caller sends is the one a command records.
"""

from __future__ import annotations

import hmac

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from promptworks_eventkit.openapi_security import document_security
from promptworks_eventkit.problems import problem
from promptworks_eventkit.settings import ServiceSettings

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"})
SERVICE_SCHEME = "ServiceToken"


def bearer(headers: Headers) -> str | None:
    """The credential of ``Authorization: Bearer <credential>``, if that is what came."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    value = value.strip()
    return value if scheme.lower() == "bearer" and value else None


class ServiceCredential:
    """ASGI middleware refusing (401) every API call that lacks the service credential."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self._token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        presented = bearer(Headers(scope=scope))
        if (
            self._token is not None
            and presented is not None
            and hmac.compare_digest(presented.encode(), self._token)
        ):
            await self.app(scope, receive, send)
            return
        detail = (
            "this service answers only callers with the service credential "
            "(Authorization: Bearer <SERVICE_TOKEN>); call the public API (query-api) instead"
        )
        response = problem(
            401,
            detail=detail,
            kind="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="promptworks-services"'},
        )
        await response(scope, receive, send)


def service_credential(settings: ServiceSettings) -> Middleware:
    """The ``auth`` of a command service's ``install_edge``."""
    token = settings.service_token.get_secret_value() if settings.service_token else None
    return Middleware(ServiceCredential, token=token)


def document_service_credential(app: FastAPI) -> None:
    """Every operation but the open ones needs the service credential (401 without it)."""
    schemes = {
        SERVICE_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "The shared service credential (`SERVICE_TOKEN`); only query-api has it",
        }
    }

    def requirement(method: str, path: str) -> list[dict[str, list[str]]] | None:
        return None if path in OPEN_PATHS else [{SERVICE_SCHEME: []}]

    def refusals(method: str, path: str) -> dict[str, str]:
        return {"401": "No service credential, or the wrong one"}

    document_security(app, schemes, requirement, refusals)
