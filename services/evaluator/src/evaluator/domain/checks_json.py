"""Checks on the output as JSON: is JSON, valid under a JSON Schema, a field compares to a
value. The output is parsed once per result (``Subject.parsed``)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Final

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match

from evaluator.domain.jsonvalues import MISSING, is_number, json_equal, json_type, resolve
from evaluator.domain.subject import (
    PASSED,
    Check,
    Outcome,
    Subject,
    TemplatedText,
    on_output,
    short,
)
from promptworks_contracts.values import IsJsonAssertion, JsonFieldAssertion, JsonSchemaAssertion


def is_json(assertion: IsJsonAssertion) -> Check:
    def check(subject: Subject, output: str) -> Outcome:
        _, problem = subject.parsed()
        return PASSED if problem is None else Outcome(False, problem)

    return on_output(check)


def schema_validator(schema: dict[str, Any]) -> Draft202012Validator | str:
    """A validator for ``schema`` (formats checked), or why the schema is invalid (a run
    recorded before schemas were checked at creation may carry one)."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        return short(f"invalid schema: {error.message}")
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def json_schema(assertion: JsonSchemaAssertion) -> Check:
    validator = schema_validator(assertion.json_schema)
    if isinstance(validator, str):
        invalid = Outcome(False, validator)
        return lambda subject: invalid

    def check(subject: Subject, output: str) -> Outcome:
        document, problem = subject.parsed()
        if problem is not None:
            return Outcome(False, problem)
        try:
            error = best_match(validator.iter_errors(document))
        except Exception as failure:  # e.g. an unresolvable $ref: the schema is user input
            return Outcome(False, short(f"schema error: {failure}"))
        if error is None:
            return PASSED
        return Outcome(False, short(f"{error.json_path}: {error.message}"))

    return on_output(check)


_ORDERED: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}
_SYMBOLS: Final = {"eq": "==", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def json_field(assertion: JsonFieldAssertion) -> Check:
    path, op = assertion.path, assertion.op
    # A string value may be templated, like every string value of an assertion.
    text = TemplatedText(assertion.value) if isinstance(assertion.value, str) else None
    where = path or "the document"

    def check(subject: Subject, output: str) -> Outcome:
        document, problem = subject.parsed()
        if problem is not None:
            return Outcome(False, problem)
        wanted = text.value(subject) if text is not None else assertion.value
        actual = resolve(document, path)
        if actual is MISSING:
            return Outcome(False, short(f"{where}: no such field"))
        if op in ("eq", "ne"):
            ok = json_equal(actual, wanted) == (op == "eq")
        elif not is_number(actual):
            return Outcome(False, short(f"{where}: {json_type(actual)}, not a number"))
        else:
            ok = _ORDERED[op](actual, wanted)
        if ok:
            return PASSED
        value = float(actual) if is_number(actual) else None
        return Outcome(
            False, short(f"{where}: {actual!r} {_SYMBOLS[op]} {wanted!r} is false"), measured=value
        )

    return on_output(check)
