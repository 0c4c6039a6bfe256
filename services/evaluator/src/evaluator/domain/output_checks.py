"""The original product's metrics of one output (``OutputChecks``): it declared them
(``is_valid_json``, ``schema_pass``, ``missing_fields``, ``type_mismatches``,
``numeric_accuracy``, ``boolean_accuracy``) but never computed them; what they mean here:

- ``is_valid_json``: the output parses as JSON.
- ``schema_pass``: it is valid under every JSON Schema of the run (its ``json_schema``
  assertions, the run's ``schema`` among them); None without a schema.
- ``missing_fields``: JSON pointers of every field the expected output has and the output
  lacks, and of every property a schema requires and the output lacks (ALL of them, from every
  validator error, not only the first or the best one).
- ``type_mismatches``: every field present in both whose JSON type differs (integer and number
  are one kind), and every schema ``type`` error.
- ``numeric_accuracy`` / ``boolean_accuracy``: the share of the expected output's number /
  boolean leaves the output has equal at the same pointer (numbers equal within a relative
  1e-9); None when the expected output has no such leaf.

The expected output is the case's ``expected``; a string is parsed as JSON when it is a JSON
object or array (a CSV column holds JSON as text), otherwise the structural metrics do not
apply to it. A non-JSON output fails ``schema_pass`` and has accuracy 0 where it applies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from jsonschema import Draft202012Validator

from evaluator.domain.jsonvalues import (
    MISSING,
    child_pointer,
    is_number,
    json_equal,
    json_type,
    resolve,
    same_kind,
)
from promptworks_contracts.values import OutputChecks, TypeMismatch

MAX_LISTED: Final = 200
"""Fields listed per kind (missing, mismatched) in one result; counts stay exact."""

_NOT_STRUCTURED: Final = object()


def structured_expected(expected: Any) -> Any:
    """The expected output as a JSON value the structural metrics apply to, or
    ``_NOT_STRUCTURED`` (None, or plain text)."""
    if expected is None:
        return _NOT_STRUCTURED
    if isinstance(expected, str):
        text = expected.strip()
        if text[:1] in ("{", "["):
            try:
                return json.loads(text)
            except (ValueError, RecursionError):
                return _NOT_STRUCTURED
        return _NOT_STRUCTURED
    return expected


def _leaves(value: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    """(pointer, value) of every scalar, empty object and empty array in ``value``."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaves(item, child_pointer(pointer, key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _leaves(item, child_pointer(pointer, index))
    else:
        yield pointer, value


def _compare(
    expected: Any, actual: Any
) -> tuple[list[str], list[TypeMismatch], list[bool], list[bool]]:
    """Missing pointers, type mismatches, and per number / boolean leaf whether it is equal."""
    missing: list[str] = []
    mismatches: list[TypeMismatch] = []
    numbers: list[bool] = []
    booleans: list[bool] = []
    reported: set[str] = set()  # a container of the wrong type is reported once, not per leaf
    for pointer, wanted in _leaves(expected):
        got = resolve(actual, pointer)
        if got is MISSING:
            blocker = _wrong_container(expected, actual, pointer)
            if blocker is None:
                missing.append(pointer)
            elif blocker[0] not in reported:
                reported.add(blocker[0])
                mismatches.append(
                    TypeMismatch(path=blocker[0], expected=blocker[1], actual=blocker[2])
                )
        elif not same_kind(wanted, got):
            mismatches.append(
                TypeMismatch(path=pointer, expected=json_type(wanted), actual=json_type(got))
            )
        if is_number(wanted):
            numbers.append(got is not MISSING and is_number(got) and json_equal(wanted, got))
        elif isinstance(wanted, bool):
            booleans.append(isinstance(got, bool) and got == wanted)
    return missing, mismatches, numbers, booleans


def _wrong_container(expected: Any, actual: Any, pointer: str) -> tuple[str, str, str] | None:
    """The first ancestor of ``pointer`` that the output has with another type than expected."""
    parts = pointer.split("/")[1:]
    path = ""
    for part in parts:
        wanted, got = resolve(expected, path), resolve(actual, path)
        if got is MISSING:
            return None
        if not same_kind(wanted, got):
            return path, json_type(wanted), json_type(got)
        path = f"{path}/{part}"
    return None


def _schema_findings(
    validators: Sequence[Draft202012Validator], document: Any
) -> tuple[bool, list[str], list[TypeMismatch]]:
    passed = True
    missing: list[str] = []
    mismatches: list[TypeMismatch] = []
    for validator in validators:
        try:
            errors = list(validator.iter_errors(document))
        except Exception:  # an unresolvable $ref: the schema assertion reports it
            passed = False
            continue
        for error in errors:
            passed = False
            at = "".join(child_pointer("", part) for part in error.absolute_path)
            if error.validator == "required" and isinstance(error.instance, dict):
                missing.extend(
                    child_pointer(at, name)
                    for name in error.validator_value
                    if isinstance(name, str) and name not in error.instance
                )
            elif error.validator == "type":
                wanted = error.validator_value
                expected = wanted if isinstance(wanted, str) else " or ".join(map(str, wanted))
                mismatches.append(
                    TypeMismatch(path=at, expected=expected, actual=json_type(error.instance))
                )
    return passed, missing, mismatches


@dataclass(frozen=True, slots=True)
class Findings:
    checks: OutputChecks
    missing: int
    """Missing fields, all of them (``checks`` lists the first ``MAX_LISTED``)."""
    mismatched: int
    structural: bool
    """A schema or a structured expected output applied: the counts mean something."""


def _plain(valid_json: bool) -> Findings:
    return Findings(OutputChecks(is_valid_json=valid_json), 0, 0, False)


PLAIN: Final = {True: _plain(True), False: _plain(False)}
"""The findings without a schema or a structured expected output: whether it is JSON, only."""


def checks_document(checks: OutputChecks | None) -> OutputChecks | dict[str, Any] | None:
    """``checks`` for the event's JSON: plain text's (the same for every such result) as the
    dict ``model_dump(mode="json")`` gives, made once (only ever encoded, never changed)."""
    if checks is not None and checks is PLAIN[checks.is_valid_json].checks:
        return _plain_document(checks.is_valid_json)
    return checks


@cache
def _plain_document(valid_json: bool) -> dict[str, Any]:
    return PLAIN[valid_json].checks.model_dump(mode="json")


def output_checks(
    output: str | None,
    parsed: Any,
    parse_problem: str | None,
    expected: Any,
    validators: Sequence[Draft202012Validator],
) -> Findings:
    valid_json = output is not None and parse_problem is None
    structured = structured_expected(expected)
    if structured is _NOT_STRUCTURED and not validators:
        return PLAIN[valid_json]
    schema_pass: bool | None = None
    missing: list[str] = []
    mismatches: list[TypeMismatch] = []
    numeric: float | None = None
    boolean: float | None = None
    if validators:
        if valid_json:
            schema_pass, missing, mismatches = _schema_findings(validators, parsed)
        else:
            schema_pass = False
    if structured is not _NOT_STRUCTURED:
        if valid_json:
            more_missing, more_mismatches, numbers, booleans = _compare(structured, parsed)
        else:
            leaves = [value for _, value in _leaves(structured)]
            more_missing, more_mismatches = [], []
            numbers = [False for value in leaves if is_number(value)]
            booleans = [False for value in leaves if isinstance(value, bool)]
        missing, mismatches = [*missing, *more_missing], [*mismatches, *more_mismatches]
        numeric = sum(numbers) / len(numbers) if numbers else None
        boolean = sum(booleans) / len(booleans) if booleans else None
    # jsonschema reports a `required` keyword once per missing property; a field may also be
    # missing for a schema and for the expected output alike: each is listed once.
    missing, mismatches = _unique(missing), _unique_mismatches(mismatches)
    checks = OutputChecks(
        is_valid_json=valid_json,
        schema_pass=schema_pass,
        missing_fields=missing[:MAX_LISTED],
        type_mismatches=mismatches[:MAX_LISTED],
        numeric_accuracy=numeric,
        boolean_accuracy=boolean,
    )
    return Findings(
        checks, len(missing), len(mismatches), bool(validators) or structured is not _NOT_STRUCTURED
    )


def _unique(pointers: list[str]) -> list[str]:
    return list(dict.fromkeys(pointers))


def _unique_mismatches(mismatches: list[TypeMismatch]) -> list[TypeMismatch]:
    seen: dict[str, TypeMismatch] = {}
    for mismatch in mismatches:
        seen.setdefault(mismatch.path, mismatch)
    return list(seen.values())
