"""The API keys in query-api's OpenAPI document: the two ways to send a key, and on every
operation the scope it needs (from ``scopes.scope_for``, the rule the middleware applies)
and its refusals (401, 403, 429)."""

from __future__ import annotations

from fastapi import FastAPI

from promptworks_eventkit.openapi_security import document_security
from query_api.auth.middleware import API_KEY_HEADER
from query_api.auth.scopes import scope_for

BEARER = "ApiKeyBearer"
HEADER = "ApiKeyHeader"
SCHEMES = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: `Authorization: Bearer <key>`",
    },
    HEADER: {
        "type": "apiKey",
        "in": "header",
        "name": API_KEY_HEADER,
        "description": "An API key, the other way: `X-API-Key: <key>`",
    },
}


def requirement(method: str, path: str) -> list[dict[str, list[str]]] | None:
    scope = scope_for(method, path)
    if scope is None:
        return None
    return [{BEARER: [scope]}, {HEADER: [scope]}]


def refusals(method: str, path: str) -> dict[str, str]:
    scope = scope_for(method, path)
    return {
        "401": "No API key, or one that is unknown, revoked or expired",
        "403": f"The key lacks the scope `{scope}` (or `admin`)",
        "429": "The key made too many requests: retry after `Retry-After` seconds",
        "503": "The key cannot be checked right now (or the command service is unreachable)",
    }


def document_api_keys(app: FastAPI) -> None:
    document_security(app, SCHEMES, requirement, refusals)
