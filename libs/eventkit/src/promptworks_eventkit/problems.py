"""Error answers in the one shape of the public API (``promptworks_contracts.api.problem``):
``application/problem+json`` with ``type``, ``title``, ``status``, ``detail`` and ``errors``.

Every error answer of every service is built here, so no handler, middleware or forwarder can
answer an error in another shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi.responses import JSONResponse

from promptworks_contracts.api.problem import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_PREFIX

# The kind of problem each status is, when the error does not say better.
KIND_BY_STATUS = {
    400: "malformed-body",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    412: "precondition-failed",
    413: "body-too-large",
    415: "unsupported-media-type",
    422: "invalid-input",
    429: "too-many-requests",
    500: "internal-error",
    502: "upstream-failed",
    503: "upstream-unavailable",
    504: "upstream-timeout",
}


# RFC 9110's names, which older Pythons' ``HTTPStatus`` spell the RFC 7231 way.
TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


def title_of(status: int) -> str:
    if status in TITLES:
        return TITLES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_body(
    status: int,
    errors: Sequence[Mapping[str, Any]] = (),
    *,
    detail: str | None = None,
    kind: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The problem document; ``detail`` defaults to the first error's message."""
    kind = kind or KIND_BY_STATUS.get(status, "client-error" if status < 500 else "server-error")
    if detail is None:
        detail = _summary(errors) or title_of(status)
    return {
        "type": PROBLEM_TYPE_PREFIX + kind,
        "title": title_of(status),
        "status": status,
        "detail": detail,
        "errors": [dict(e) for e in errors],
        **extra,
    }


def problem(
    status: int,
    errors: Sequence[Mapping[str, Any]] = (),
    *,
    detail: str | None = None,
    kind: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, errors, detail=detail, kind=kind, **extra),
        status_code=status,
        headers=dict(headers or {}),
        media_type=PROBLEM_MEDIA_TYPE,
    )


def _summary(errors: Sequence[Mapping[str, Any]]) -> str:
    if not errors:
        return ""
    first = errors[0]
    message = str(first.get("msg", ""))
    field = first.get("field")
    text = f"{field}: {message}" if field else message
    more = len(errors) - 1
    return f"{text} (and {more} more)" if more else text
