"""Declares who may call an app in its OpenAPI document: the security schemes, and on every
operation (the open ones aside) its requirement and the refusals it can give (401, and what
the caller adds, e.g. 403 and 429), each answered in the problem shape."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI

from promptworks_contracts.api.problem import PROBLEM_MEDIA_TYPE
from promptworks_eventkit.openapi_problems import METHODS, PROBLEM_REF

Requirement = Callable[[str, str], list[dict[str, list[str]]] | None]
"""``(method, path) -> security requirement``; None for an open operation."""


def add_security(
    document: dict[str, Any],
    schemes: Mapping[str, dict[str, Any]],
    requirement: Requirement,
    refusals: Callable[[str, str], Mapping[str, str]],
) -> dict[str, Any]:
    document.setdefault("components", {}).setdefault("securitySchemes", {}).update(schemes)
    content = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}}
    for path, path_item in document.get("paths", {}).items():
        for method in METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            needed = requirement(method.upper(), path)
            if needed is None:
                operation["security"] = []
                continue
            operation["security"] = needed
            responses = operation.setdefault("responses", {})
            for status, description in refusals(method.upper(), path).items():
                responses.setdefault(status, {"description": description})["content"] = content
    return document


def document_security(
    app: FastAPI,
    schemes: Mapping[str, dict[str, Any]],
    requirement: Requirement,
    refusals: Callable[[str, str], Mapping[str, str]],
) -> None:
    """Wraps ``app.openapi`` (after ``install_edge``) so its document has the above."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_security(build(), schemes, requirement, refusals)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
