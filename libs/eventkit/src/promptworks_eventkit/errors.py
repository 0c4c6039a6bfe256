"""Errors every service maps to HTTP the same way: 4xx that name the field and the rule."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from promptworks_eventkit.eventstore import ConcurrencyConflictError


class DomainError(Exception):
    """A command was refused by a business rule. ``field`` names the input at fault."""

    status_code = 422
    location = "body"
    """Where the named field lives in the request: body, path, query or header."""

    def __init__(self, message: str, *, field: str | None = None, rule: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.rule = rule

    def detail(self) -> list[dict[str, Any]]:
        loc = [self.location, *self.field.split(".")] if self.field else [self.location]
        return [{"loc": loc, "field": self.field, "type": self.rule, "msg": self.message}]


class NotFoundError(DomainError):
    status_code = 404


class PathNotFoundError(NotFoundError):
    """A path parameter (an id, a label) names nothing."""

    location = "path"


class ConflictError(DomainError):
    status_code = 409


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    details: list[dict[str, Any]] = []
    malformed = False
    for item in error.errors():
        if item.get("type") == "json_invalid":
            malformed = True
            position = item.get("loc", ("body", "?"))[-1]
            reason = item.get("ctx", {}).get("error", "invalid JSON")
            details.append(
                {
                    "loc": ["body"],
                    "field": "body",
                    "type": "json_invalid",
                    "msg": f"malformed JSON at character {position}: {reason}",
                }
            )
            continue
        details.append(
            {
                "loc": list(item.get("loc", ())),
                "field": _field(item.get("loc", ())),
                "type": item.get("type"),
                "msg": item.get("msg"),
                **({"ctx": _jsonable(item["ctx"])} if "ctx" in item else {}),
            }
        )
    # Body that is not JSON at all is a malformed request (400); JSON that breaks a rule is 422.
    return JSONResponse({"detail": details}, status_code=400 if malformed else 422)


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, int | float | str | bool | None) else str(v) for k, v in value.items()
    }


async def _domain_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DomainError)
    return JSONResponse({"detail": error.detail()}, status_code=error.status_code)


async def _conflict(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ConcurrencyConflictError)
    return JSONResponse(
        {
            "detail": [
                {
                    "loc": ["header", "If-Match"],
                    "field": "If-Match",
                    "type": "version_conflict",
                    "msg": str(error),
                }
            ],
            "current_version": error.actual,
        },
        status_code=409,
        headers={"ETag": f'"{error.actual}"'},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(ConcurrencyConflictError, _conflict)
