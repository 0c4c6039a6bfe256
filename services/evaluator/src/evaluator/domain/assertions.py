"""Assertions: one small check per assertion type, chosen through ONE table (``PREPARERS``).

Invariants:
- A check never raises: an invalid regex, an invalid schema or a template that cannot be
  rendered fails the assertion with a detail that names the problem.
- Expensive work happens once per run plan, not per result: regexes and schema validators are
  compiled when the check is prepared, and templated values are rendered once per case.
- String values (contains / not_contains / equals values, regex patterns) may use the case's
  variables as ``{{ name }}``; a regex pattern is rendered first, then compiled.
- Regexes run on RE2 (``google-re2``): matching takes time linear in the output, so no pattern
  (``(a+)+$``, say) can stall the evaluator on a long output. RE2 has no backreferences and no
  lookaround; such a pattern fails its assertion as an invalid regex, saying so.
- A result without output (the call failed) fails every output assertion with
  ``no output: <error>``; ``max_latency_ms`` still judges its latency.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import re2
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match

from promptworks_contracts.values import (
    Assertion,
    ContainsAssertion,
    EqualsAssertion,
    IsJsonAssertion,
    JsonSchemaAssertion,
    MaxLatencyAssertion,
    NotContainsAssertion,
    RegexAssertion,
)
from promptworks_eventkit.templating import TemplateError, render

DETAIL_CHARS: Final = 300
"""Details are reasons, not copies of the output: long ones are cut to this many characters."""


@dataclass(frozen=True, slots=True)
class Subject:
    """What an assertion looks at: one result and the variables of its case."""

    case_index: int
    variables: Mapping[str, Any]
    output: str | None
    error: str | None
    latency_ms: float


Outcome = tuple[bool, str | None]
"""(passed, detail); detail is set when the assertion failed."""
Check = Callable[[Subject], Outcome]
OutputCheck = Callable[[Subject, str], Outcome]

PASSED: Final[Outcome] = (True, None)


def short(text: str, limit: int = DETAIL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Text:
    """An assertion's string value, rendered with the case's variables once per case."""

    __slots__ = ("_by_case", "_source", "_static")

    def __init__(self, source: str) -> None:
        self._source = source
        # Jinja syntax starts with one of these; anything else (e.g. regex `\d{3}`) is literal.
        self._static = not any(token in source for token in ("{{", "{%", "{#"))
        self._by_case: dict[int, str | TemplateError] = {}

    def value(self, subject: Subject) -> str:
        """The rendered value; raises ``TemplateError`` (remembered per case)."""
        if self._static:
            return self._source
        rendered = self._by_case.get(subject.case_index)
        if rendered is None:
            try:
                rendered = render(self._source, subject.variables)
            except TemplateError as error:
                rendered = error
            self._by_case[subject.case_index] = rendered
        if isinstance(rendered, TemplateError):
            raise rendered
        return rendered


def _on_output(check: OutputCheck) -> Check:
    """Runs ``check`` on the output; no output, or a value that does not render, fails."""

    def guarded(subject: Subject) -> Outcome:
        if subject.output is None:
            return False, short(f"no output: {subject.error or 'the call returned nothing'}")
        try:
            return check(subject, subject.output)
        except TemplateError as error:
            return False, short(f"template error: {error}")

    return guarded


def _contains(assertion: ContainsAssertion) -> Check:
    text, sensitive = _Text(assertion.value), assertion.case_sensitive

    def check(subject: Subject, output: str) -> Outcome:
        needle = text.value(subject)
        found = needle in output if sensitive else needle.casefold() in output.casefold()
        return PASSED if found else (False, short(f"output does not contain {needle!r}"))

    return _on_output(check)


def _not_contains(assertion: NotContainsAssertion) -> Check:
    text, sensitive = _Text(assertion.value), assertion.case_sensitive

    def check(subject: Subject, output: str) -> Outcome:
        needle = text.value(subject)
        found = needle in output if sensitive else needle.casefold() in output.casefold()
        return (False, short(f"output contains {needle!r}")) if found else PASSED

    return _on_output(check)


def _equals(assertion: EqualsAssertion) -> Check:
    text, strip = _Text(assertion.value), assertion.strip

    def check(subject: Subject, output: str) -> Outcome:
        expected = text.value(subject)
        actual = output.strip() if strip else output
        if actual == (expected.strip() if strip else expected):
            return PASSED
        return False, short(f"expected {expected!r}, got {actual!r}")

    return _on_output(check)


def _re2_options() -> Any:
    options = re2.Options()
    options.log_errors = False  # an invalid pattern is reported in the assertion, not on stderr
    return options


_RE2_OPTIONS: Final = _re2_options()


def _regex(assertion: RegexAssertion) -> Check:
    text = _Text(assertion.pattern)
    compiled: dict[str, Any] = {}  # rendered pattern -> an RE2 pattern, or the error (str)

    def check(subject: Subject, output: str) -> Outcome:
        source = text.value(subject)
        pattern = compiled.get(source)
        if pattern is None:
            try:
                pattern = re2.compile(source, _RE2_OPTIONS)
            except re2.error as error:
                reason = error.args[0].decode() if error.args else "invalid"
                pattern = short(f"invalid regex {source!r}: {reason} (RE2 syntax)")
            compiled[source] = pattern
        if isinstance(pattern, str):
            return False, pattern
        if pattern.search(output):
            return PASSED
        return False, short(f"no match for /{source}/")

    return _on_output(check)


def _parse_json(output: str) -> tuple[Any, str | None]:
    try:
        return json.loads(output), None
    except (ValueError, RecursionError) as error:
        return None, short(f"not JSON: {error}")


def _is_json(assertion: IsJsonAssertion) -> Check:
    def check(subject: Subject, output: str) -> Outcome:
        _, problem = _parse_json(output)
        return PASSED if problem is None else (False, problem)

    return _on_output(check)


def _json_schema(assertion: JsonSchemaAssertion) -> Check:
    try:
        Draft202012Validator.check_schema(assertion.json_schema)
    except SchemaError as error:
        invalid = short(f"invalid schema: {error.message}")
        return lambda subject: (False, invalid)
    validator = Draft202012Validator(
        assertion.json_schema, format_checker=Draft202012Validator.FORMAT_CHECKER
    )

    def check(subject: Subject, output: str) -> Outcome:
        document, problem = _parse_json(output)
        if problem is not None:
            return False, problem
        try:
            error = best_match(validator.iter_errors(document))
        except Exception as failure:  # e.g. an unresolvable $ref: the schema is user input
            return False, short(f"schema error: {failure}")
        if error is None:
            return PASSED
        return False, short(f"{error.json_path}: {error.message}")

    return _on_output(check)


def _max_latency_ms(assertion: MaxLatencyAssertion) -> Check:
    threshold = assertion.threshold

    def check(subject: Subject) -> Outcome:
        if subject.latency_ms <= threshold:
            return PASSED
        return False, f"latency {subject.latency_ms:.0f} ms > {threshold:g} ms"

    return check


PREPARERS: Final[Mapping[str, Callable[[Any], Check]]] = {
    "contains": _contains,
    "not_contains": _not_contains,
    "equals": _equals,
    "regex": _regex,
    "is_json": _is_json,
    "json_schema": _json_schema,
    "max_latency_ms": _max_latency_ms,
}
"""Assertion type -> the function that compiles it into a check (the only dispatch point)."""


def prepare(assertion: Assertion) -> Check:
    """Compiles one assertion of the contracts' ``Assertion`` union into its check."""
    return PREPARERS[assertion.type](assertion)
