"""Documents the one error shape (``promptworks_contracts.api.problem``) in an app's OpenAPI
document: ``Problem`` as a component schema, and on every operation the error answers it can
give, each as ``application/problem+json``.

Every operation may answer 422 (a parameter, or a NUL anywhere in the URL, refused by the
input guard) and 500; one with a body 400 (not JSON) and 413 (too large); one with a path
parameter 404. Error answers an operation declares itself keep their description and get the
shape. FastAPI's own ``HTTPValidationError`` schema goes: no answer has that shape.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from promptworks_contracts.api.problem import PROBLEM_MEDIA_TYPE, Problem

PROBLEM_REF = "#/components/schemas/Problem"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
DESCRIPTIONS = {
    "400": "The body is not JSON (`errors[0].type` is `json_invalid`)",
    "404": "Nothing has the id in the path",
    "413": "The body is larger than the service accepts",
    "422": "A parameter or the body broke a rule: `errors` names each field and rule",
    "500": "The server failed; the answer carries nothing of the failure",
}


def problem_schemas() -> dict[str, Any]:
    """``Problem`` and the schemas it refers to, as OpenAPI component schemas."""
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions: dict[str, Any] = schema.pop("$defs", {})
    return {"Problem": schema, **definitions}


def _error_statuses(operation: dict[str, Any]) -> list[str]:
    statuses = ["422", "500"]
    if "requestBody" in operation:
        statuses += ["400", "413"]
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        statuses.append("404")
    return statuses


def add_problems(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(problem_schemas())
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    content = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}}
    for path_item in document.get("paths", {}).values():
        for method in METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in _error_statuses(operation):
                responses.setdefault(status, {"description": DESCRIPTIONS[status]})
            for status, response in responses.items():
                if status[0] in "45":
                    if response.get("description") == "Validation Error":
                        response["description"] = DESCRIPTIONS["422"]
                    response["content"] = content
    return document


def document_problems(app: FastAPI) -> None:
    """Wraps ``app.openapi`` so the document it serves (once built, cached) has the above."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_problems(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
