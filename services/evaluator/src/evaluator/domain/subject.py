"""What an assertion looks at (``Subject``), what it answers (``Outcome``), and the helpers
every check shares: templated values, the no-output guard, the text a similarity compares with.

Invariants:
- A check never raises: a value that does not render, a missing expected output or an
  unexpected library error fails the assertion with a detail that names the problem.
- The output is parsed as JSON at most once per result, whichever checks ask for it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple

from promptworks_contracts.values import Money
from promptworks_eventkit.templating import TemplateError, render

DETAIL_CHARS: Final = 300
"""Details are reasons, not copies of the output: long ones are cut to this many characters."""

_UNPARSED: Final = object()


def short(text: str, limit: int = DETAIL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Subject:
    """One result, the variables and the expected output of its case."""

    __slots__ = (
        "_json",
        "_json_problem",
        "case_index",
        "cost",
        "error",
        "expected",
        "latency_ms",
        "output",
        "variables",
    )

    def __init__(
        self,
        *,
        case_index: int,
        variables: Mapping[str, Any],
        output: str | None,
        error: str | None,
        latency_ms: float,
        expected: Any = None,
        cost: Money | None = None,
    ) -> None:
        self.case_index = case_index
        self.variables = variables
        self.output = output
        self.error = error
        self.latency_ms = latency_ms
        self.expected = expected
        self.cost = cost
        self._json: Any = _UNPARSED
        self._json_problem: str | None = None

    def parsed(self) -> tuple[Any, str | None]:
        """The output as JSON and None, or (None, why it is not JSON); parsed once."""
        if self._json is _UNPARSED:
            self._json, self._json_problem = parse_json(self.output or "")
        return self._json, self._json_problem


_JSON_STARTS: Final = frozenset('{["-0123456789tfnNI')
"""The characters a JSON value (as ``json.loads`` reads it: NaN, Infinity too) can start with."""
_NOT_JSON_AT_START: Final = f"not JSON: {json.JSONDecodeError('Expecting value', 'x', 0)}"


def parse_json(text: str) -> tuple[Any, str | None]:
    start = len(text) - len(text.lstrip(" \t\n\r"))
    if (start == len(text) or text[start] not in _JSON_STARTS) and text[:1] != "\ufeff":
        # Plain text (most outputs): the error ``json.loads`` raises, without raising it (the
        # same message whenever the text starts at its first character).
        if start == 0 and text:
            return None, _NOT_JSON_AT_START
        return None, short(f"not JSON: {json.JSONDecodeError('Expecting value', text, start)}")
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError) as error:
        return None, short(f"not JSON: {error}")
    # JSON may spell a lone surrogate (an escape of half a pair), which no UTF-8 text can
    # hold: the event carrying the parsed output could not be encoded. Such halves become
    # U+FFFD, as a UTF-8 decoder would make them.
    return (without_lone_surrogates(parsed) if "\\u" in text else parsed), None


_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def without_lone_surrogates(value: Any) -> Any:
    """``value`` with every lone surrogate (in strings, keys, nested) as U+FFFD."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {without_lone_surrogates(k): without_lone_surrogates(v) for k, v in value.items()}
    return value


class Outcome(NamedTuple):
    """``passed``; ``detail`` set when it failed; ``score`` the metric's value for scored checks
    (a distance, a similarity), None for yes/no checks (reported as 1.0 / 0.0); ``measured``
    what a failed check measured against its threshold (milliseconds, a cost, a share), for the
    result's reasons (defaults to ``score``)."""

    passed: bool
    detail: str | None = None
    score: float | None = None
    measured: float | None = None


Check = Callable[[Subject], Outcome]
OutputCheck = Callable[[Subject, str], Outcome]

PASSED: Final = Outcome(True)


class MissingReferenceError(LookupError):
    """A similarity check without ``value`` on a case without an expected output."""


class TemplatedText:
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


class Reference:
    """The text a similarity compares the output with: the assertion's ``value`` (templated)
    when it gives one, else the case's ``expected`` (a non-string expected value as compact
    JSON)."""

    __slots__ = ("_text",)

    def __init__(self, value: str | None) -> None:
        self._text = None if value is None else TemplatedText(value)

    def value(self, subject: Subject) -> str:
        if self._text is not None:
            return self._text.value(subject)
        expected = subject.expected
        if expected is None:
            raise MissingReferenceError(
                f"case {subject.case_index} has no expected output and the assertion no `value`"
            )
        if isinstance(expected, str):
            return expected
        return json.dumps(expected, ensure_ascii=False, separators=(",", ":"))


def on_output(check: OutputCheck) -> Check:
    """Runs ``check`` on the output; no output, or a value that cannot be had, fails."""

    def guarded(subject: Subject) -> Outcome:
        if subject.output is None:
            return Outcome(
                False, short(f"no output: {subject.error or 'the call returned nothing'}")
            )
        try:
            return check(subject, subject.output)
        except TemplateError as error:
            return Outcome(False, short(f"template error: {error}"))
        except MissingReferenceError as error:
            return Outcome(False, short(str(error)))

    return guarded
