"""The API keys in query-api's OpenAPI document: the two ways to send a key, and on every
operation the scope it needs (from ``scopes.scope_for``, the rule the middleware applies)
and its refusals (401, 403, 429); and ``X-Project`` on every project-scoped operation."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from promptworks_contracts.api.problem import PROBLEM_MEDIA_TYPE
from promptworks_contracts.projects import PROJECT_HEADER, PROJECT_PATTERN
from promptworks_eventkit.openapi_problems import METHODS, PROBLEM_REF
from promptworks_eventkit.openapi_security import document_security
from query_api.auth.middleware import API_KEY_HEADER
from query_api.auth.projects import project_scoped
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


PROJECT_PARAMETER = "Project"
PROJECT_DOC = {
    "name": PROJECT_HEADER,
    "in": "header",
    "required": False,
    "description": "The project (tenant) the request acts in; absent: the key's first granted "
    "project (`default` for an admin key). 403 when the key is not granted it, 404 when it "
    "does not exist.",
    "schema": {"type": "string", "pattern": PROJECT_PATTERN},
}


def add_projects(document: dict[str, Any]) -> dict[str, Any]:
    """``X-Project`` as one reusable header parameter on every project-scoped operation."""
    components = document.setdefault("components", {})
    components.setdefault("parameters", {})[PROJECT_PARAMETER] = PROJECT_DOC
    content = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}}
    reference = {"$ref": f"#/components/parameters/{PROJECT_PARAMETER}"}
    for path, path_item in document.get("paths", {}).items():
        if not project_scoped(path):
            continue
        for method in METHODS:
            operation = path_item.get(method)
            if operation is None or scope_for(method.upper(), path) is None:
                continue
            operation.setdefault("parameters", []).append(reference)
            responses = operation.setdefault("responses", {})
            for status, description in (
                ("403", "The key lacks the scope, or is not granted the project (`X-Project`)"),
                ("404", "No such project (`X-Project`), or nothing has the id in the path"),
            ):
                responses.setdefault(status, {"description": description})["content"] = content
    return document


def document_projects(app: FastAPI) -> None:
    """Wraps ``app.openapi`` (after ``document_api_keys``) so its document has the above."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_projects(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
