"""The HTTP edge every service shares: request context, ``If-Match``, positions in answers, and
the one mapping of errors to answers, RFC 9457 problem details (``problems``; the shape is
``promptworks_contracts.api.problem``): ``{"type", "title", "status", "detail", "errors":
[{"loc", "field", "type", "msg"}]}``, and the input guard (``input_guard``). Unknown routes
(404), wrong methods (405), bodies that are not JSON (400) and unexpected failures (500, which
never carry the exception) answer in that shape too.

Status by error class: ``NotFoundError`` 404, ``ConflictError`` 409, a stale expected version
409 (with ``current_version`` and an ``ETag``), any other ``DomainError`` 422. ``loc`` starts
with where the named field came from in THIS request: a path parameter, a query parameter, a
header, or else the body. Domain code names fields only; it never knows HTTP.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware

# Strict JSON numbers in request bodies, defined with the public API's request models.
from promptworks_contracts.api.prompts import JsonFloat as JsonFloat
from promptworks_contracts.api.prompts import JsonInt as JsonInt
from promptworks_contracts.projects import DEFAULT_PROJECT, PROJECT_HEADER, PROJECT_PATTERN
from promptworks_eventkit.correlation import CorrelationId
from promptworks_eventkit.errors import (
    ConcurrencyConflictError,
    ConflictError,
    DomainError,
    NotFoundError,
)
from promptworks_eventkit.input_guard import InputGuard
from promptworks_eventkit.messages import MessageContext, Position
from promptworks_eventkit.metrics import HttpMetrics
from promptworks_eventkit.openapi_problems import document_problems
from promptworks_eventkit.problems import problem
from promptworks_eventkit.settings import ServiceSettings
from promptworks_eventkit.tracing import current_traceparent
from promptworks_eventkit.trailing_slash import TrailingSlash
from promptworks_eventkit.unexpected import Unexpected, failure_detail

CORRELATION_HEADER = "X-Correlation-ID"


async def message_context(request: Request) -> MessageContext:
    """Carries the request's correlation id (``correlation``) and trace context into the
    events: the current span's with tracing on (the command's server span), else the caller's
    ``traceparent`` as it came (its trace goes on even where this service does not trace).
    The project is ``X-Project`` (absent: ``default``): a command service is reached only with
    the service credential, so the project is the one query-api checked the caller's key for."""
    correlation = (
        getattr(request.state, "correlation_id", None)
        or (request.headers.get(CORRELATION_HEADER) or str(uuid.uuid4()))[:200]
    )
    return MessageContext(
        correlation_id=correlation,
        causation_id=correlation,
        traceparent=current_traceparent() or request.headers.get("traceparent"),
        project=request_project(request),
    )


def request_project(request: Request) -> str:
    """The ``X-Project`` a trusted caller named; ``default`` when absent."""
    value = request.headers.get(PROJECT_HEADER)
    if value is None:
        return DEFAULT_PROJECT
    if re.fullmatch(PROJECT_PATTERN, value) is None:
        raise DomainError(
            f"{PROJECT_HEADER} must be a project id ({PROJECT_PATTERN})",
            field=PROJECT_HEADER,
            rule="string_pattern_mismatch",
        )
    return value


async def expected_version(if_match: Annotated[str | None, Header()] = None) -> int | None:
    """``If-Match: "3"`` (or ``3``) is the stream version the client last saw."""
    if if_match is None or if_match.strip() == "*":
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise DomainError(
            'If-Match must be the stream version the client last saw, e.g. "3"',
            field="If-Match",
            rule="integer",
        )
    return int(raw)


Context = Annotated[MessageContext, Depends(message_context)]
ExpectedVersion = Annotated[int | None, Depends(expected_version)]

MAX_INT32 = 2**31 - 1
"""The largest integer a request may carry to PostgreSQL's ``integer`` (version numbers,
offsets): a larger one is a 422 naming the parameter, not an overflow (500) in the database."""


class PositionOut(BaseModel):
    stream_id: str
    stream_version: int


def positions_out(positions: Sequence[Position]) -> list[PositionOut]:
    """Every stream a command appended to: the one answer query-api waits on (read your
    writes), the same from every command service."""
    return [PositionOut(stream_id=p.stream_id, stream_version=p.stream_version) for p in positions]


# --- errors -----------------------------------------------------------------------------------


def kind_of(error: DomainError) -> str:
    """The problem ``type`` of a refused command."""
    if isinstance(error, NotFoundError):
        return "not-found"
    if isinstance(error, ConflictError):
        return "conflict"
    return "invalid-input"


def status_of(error: DomainError) -> int:
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, ConflictError):
        return 409
    return 422


def location_of(request: Request, field: str | None) -> str:
    """Where ``field`` came from in this request: path, query, header, else body."""
    root = (field or "").split(".", 1)[0]
    if root in request.path_params:
        return "path"
    if root in request.query_params:
        return "query"
    if root and root in request.headers:
        return "header"
    return "body"


def error_detail(request: Request, error: DomainError) -> list[dict[str, Any]]:
    location = location_of(request, error.field)
    loc = [location, *error.field.split(".")] if error.field else [location]
    return [{"loc": loc, "field": error.field, "type": error.rule, "msg": error.message}]


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
    return problem(400 if malformed else 422, details)


def _jsonable(value: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, int | float | str | bool | None) else str(v) for k, v in value.items()
    }


async def _domain_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DomainError)
    return problem(status_of(error), error_detail(request, error), kind=kind_of(error))


async def _conflict(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ConcurrencyConflictError)
    return problem(
        409,
        [
            {
                "loc": ["header", "If-Match"],
                "field": "If-Match",
                "type": "version_conflict",
                "msg": str(error),
            }
        ],
        kind="version-conflict",
        headers={"ETag": f'"{error.actual}"'},
        current_version=error.actual,
    )


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    """Starlette's own refusals: an unknown route (404), a wrong method (405, with ``Allow``)."""
    assert isinstance(error, HTTPException)
    return problem(error.status_code, detail=str(error.detail), headers=error.headers)


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    """A bug or an outage: the same shape, and nothing about the exception (the server logs
    it; the correlation id ties the answer to that log line)."""
    correlation = getattr(request.state, "correlation_id", None)
    return problem(500, detail=failure_detail(correlation))


def install_edge(
    app: FastAPI, settings: ServiceSettings, *, auth: Middleware | None = None
) -> None:
    """The one error mapping above (documented on every operation of the app's OpenAPI
    document), the input guard that refuses, before any handler runs, a body over
    ``settings.max_request_bytes`` (413) and NUL characters (422), and, outermost, the HTTP
    request metrics (count and duration by route template and status) and the request's
    correlation id (``correlation``: in the log context and the request state). A path with a
    trailing slash is served as the path without it (``trailing_slash``), never redirected.
    ``auth`` (who may call; ``service_credential`` or query-api's API keys) runs before the
    input guard, so a caller without a credential learns nothing about its body."""
    app.router.redirect_slashes = False
    app.add_middleware(Unexpected)
    app.add_middleware(InputGuard, max_body_bytes=settings.max_request_bytes)
    if auth is not None:
        app.add_middleware(auth.cls, *auth.args, **auth.kwargs)
    app.add_middleware(TrailingSlash)
    app.add_middleware(HttpMetrics, router=app)
    app.add_middleware(CorrelationId)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(ConcurrencyConflictError, _conflict)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    document_problems(app)
