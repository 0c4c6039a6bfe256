"""JSON values as JSON sees them: pointers (RFC 6901), types, equality (``1`` equals ``1.0``,
``true`` is not ``1``)."""

from __future__ import annotations

import math
from typing import Any, Final

MISSING: Final = object()
"""What ``resolve`` answers for a pointer that names nothing."""


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def same_kind(expected: Any, actual: Any) -> bool:
    """Whether ``actual`` has ``expected``'s JSON type; integer and number are one kind."""
    if is_number(expected):
        return is_number(actual)
    return json_type(expected) == json_type(actual)


def json_equal(a: Any, b: Any) -> bool:
    if is_number(a) and is_number(b):
        return bool(a == b) or math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    if json_type(a) != json_type(b) and not (is_number(a) and is_number(b)):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def split_pointer(pointer: str) -> list[str]:
    if not pointer:
        return []
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")]


def child_pointer(pointer: str, key: str | int) -> str:
    return f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}"


def resolve(document: Any, pointer: str) -> Any:
    """The value ``pointer`` names in ``document``, or ``MISSING``."""
    current = document
    for part in split_pointer(pointer):
        if isinstance(current, dict):
            if part not in current:
                return MISSING
            current = current[part]
        elif isinstance(current, list):
            if not part.isdigit() or (part != "0" and part.startswith("0")):
                return MISSING
            index = int(part)
            if index >= len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current
