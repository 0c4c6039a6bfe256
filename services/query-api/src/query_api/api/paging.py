"""One paging scheme on every list that pages by position: ``limit`` with ``offset`` (as the
original API had) or ``cursor``; ``X-Total-Count``; ``X-Next-Cursor`` and ``Link: rel=next``
while more rows follow. (``GET /prompts`` pages by keyset, ``queries.prompt_list``; the headers
and parameters are the same.)

The cursor is opaque and holds the next offset, bound to the list and its filters: replayed on
another list or with other filters it is a 422 naming ``cursor``, never a silent jump.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

from fastapi import Query, Request, Response

from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.http import MAX_INT32
from query_api.api.deps import set_next, set_total
from query_api.queries.cursor import Cursor, decode, encode

PAGING_PARAMETERS = frozenset({"limit", "offset", "cursor"})
RUNS_LIMIT = (50, 200)
"""The run list's ``limit``: its default and its largest."""
RESULTS_LIMIT = (1000, 10_000)
"""A run's results' ``limit``: its default and its largest."""
PROMPTS_LIMIT = (50, 200)
"""The prompt list's ``limit``: its default and its largest."""

Offset = Annotated[int, Query(ge=0, le=MAX_INT32, description="Rows to skip (or use cursor)")]
CursorParam = Annotated[
    str | None,
    Query(max_length=1000, description="X-Next-Cursor of the previous page (instead of offset)"),
]


def fingerprint(request: Request) -> str:
    """The list's filters: every query parameter but the paging ones, in a stable order."""
    items = sorted(
        (k, v) for k, v in request.query_params.multi_items() if k not in PAGING_PARAMETERS
    )
    return hashlib.sha256(repr(items).encode()).hexdigest()[:16]


def start(request: Request, name: str, offset: int, cursor: str | None) -> int:
    """Where the page starts: the cursor's offset when one is given, else ``offset``."""
    if cursor is None:
        return offset
    if offset:
        raise DomainError(
            "give offset or cursor, not both", field="offset", rule="cursor_and_offset"
        )
    found = decode(cursor, name, fingerprint(request), key_is_time=False).offset
    if found is None or found > MAX_INT32:  # a keyset cursor, or a forged offset
        raise DomainError(
            "malformed cursor: pass the X-Next-Cursor of the previous page",
            field="cursor",
            rule="invalid_cursor",
        )
    return found


def finish(
    response: Response, request: Request, name: str, first: int, count: int, total: int
) -> None:
    """The paging headers of a page of ``count`` rows from ``first`` out of ``total``."""
    set_total(response, total)
    following = first + count
    if count and following < total:
        cursor = Cursor(sort=name, filters=fingerprint(request), offset=following)
        set_next(response, request, encode(cursor))


def page_response(
    request: Request, name: str, first: int, count: int, total: int, body: str
) -> Response:
    """A page of ``count`` rows whose JSON (an array) is ``body``, with its paging headers."""
    response = Response(body.encode(), media_type="application/json")
    finish(response, request, name, first, count, total)
    return response
