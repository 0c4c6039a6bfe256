"""Opaque paging cursors (the ``X-Next-Cursor`` header, sent back as ``cursor``).

A keyset cursor holds the last row's sort key and id: the next page starts strictly after it,
so rows inserted or moved meanwhile never cause duplicates or gaps in the rows that did not
change. Search relevance is no stable key, so a relevance cursor holds the next offset. Each
cursor is bound to its sort and filters: replaying it with others is a 422, not a silent jump.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from promptworks_eventkit.errors import DomainError


@dataclass(frozen=True)
class Cursor:
    sort: str
    filters: str
    """A fingerprint of the filters the cursor was made for."""
    key: Any = None
    last_id: UUID | None = None
    offset: int | None = None


def encode(cursor: Cursor) -> str:
    key = cursor.key.isoformat() if isinstance(cursor.key, datetime) else cursor.key
    payload: dict[str, Any] = {"s": cursor.sort, "f": cursor.filters}
    if cursor.offset is not None:
        payload["o"] = cursor.offset
    else:
        payload["k"] = [key, str(cursor.last_id)]
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str, sort: str, filters: str, key_is_time: bool) -> Cursor:
    """The cursor in ``token``; a 422 naming ``cursor`` if it is malformed or foreign."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
        if payload["s"] != sort:
            raise _invalid(f"this cursor was made for sort={payload['s']}, not sort={sort}")
        if payload["f"] != filters:
            raise _invalid("this cursor was made for other filters; start again without it")
        if "o" in payload:
            offset = int(payload["o"])
            if offset < 0:
                raise ValueError("negative offset")
            return Cursor(sort, filters, offset=offset)
        key, last_id = payload["k"]
        if key_is_time:
            key = datetime.fromisoformat(key)
            if key.tzinfo is None:
                raise ValueError("naive time")
        elif not isinstance(key, str):
            raise ValueError("key")
        return Cursor(sort, filters, key=key, last_id=UUID(last_id))
    except DomainError:
        raise
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError) as error:
        raise _invalid("malformed cursor: pass the X-Next-Cursor of the previous page") from error


def _invalid(message: str) -> DomainError:
    return DomainError(message, field="cursor", rule="invalid_cursor")
