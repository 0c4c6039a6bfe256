"""A case's variables against the version's declarations: converted (CSV text), typed, filled.

Invariants:
- every declared variable a case gives has the declared type (``VariableSpec.type_error``);
  a wrong type is refused before any model is called, naming the case and the variable;
- text values (from CSV) are converted to the declared type first: ``"5"`` is 5 for a
  ``number``; a value that does not convert is refused the same way;
- undeclared variables pass through unchanged (a template may use them).
"""

from __future__ import annotations

import json
import math
from typing import Any

from promptworks_contracts.values import VariableSpec
from promptworks_eventkit.errors import DomainError

TRUE_WORDS = frozenset({"true", "1", "yes", "y"})
FALSE_WORDS = frozenset({"false", "0", "no", "n"})


class ConversionError(ValueError):
    pass


def from_text(spec: VariableSpec, text: str) -> Any:
    """The value of ``text`` as ``spec``'s type; raises ConversionError."""
    kind = spec.type
    if kind == "string":
        return text
    if kind in ("number", "integer"):
        return _number(text, integer=kind == "integer")
    if kind == "boolean":
        word = text.strip().lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise ConversionError(f"{text!r} is not a boolean (true/false, yes/no, 1/0)")
    if kind == "enum":
        for choice in spec.choices or []:
            if text == (json.dumps(choice) if isinstance(choice, bool) else str(choice)):
                return choice
        raise ConversionError(f"{text!r} is not one of {spec.choices}")
    try:
        return json.loads(text)  # json and list (list is then checked as a list)
    except json.JSONDecodeError as error:
        raise ConversionError(f"{text[:50]!r} is not JSON: {error.msg}") from error


def _number(text: str, *, integer: bool) -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise ConversionError(f"{text[:50]!r} is not a number") from None
    if not math.isfinite(value) or (integer and not value.is_integer()):
        raise ConversionError(f"{text[:50]!r} is not {'an integer' if integer else 'finite'}")
    return int(value) if integer else value


def typed_variables(
    specs: list[VariableSpec], variables: dict[str, Any], index: int, *, textual: bool
) -> dict[str, Any]:
    """The case's variables, converted when textual; raises DomainError on a wrong type."""
    typed = dict(variables)
    for spec in specs:
        if spec.name not in typed:
            continue
        value = typed[spec.name]
        field = f"cases.{index}.{spec.name}"
        if textual and isinstance(value, str):
            try:
                value = typed[spec.name] = from_text(spec, value)
            except ConversionError as error:
                raise DomainError(
                    f"case {index}, variable {spec.name!r}: {error}", field=field, rule="type"
                ) from error
        if problem := spec.type_error(value):
            raise DomainError(
                f"case {index}, variable {spec.name!r} {problem}", field=field, rule="type"
            )
    return typed
