"""Checks on the output's text: contains (and its variants), equals, starts/ends with, regex.

Regexes run on RE2 (``google-re2``): matching takes time linear in the output, so no pattern
(``(a+)+$``, say) can stall the evaluator on a long output. A pattern without template syntax
was compiled when the run was created (the contract refuses an invalid one); a templated one
is compiled per rendered pattern here, and an invalid one fails its assertion saying why.
"""

from __future__ import annotations

from typing import Any, Final

import re2

from evaluator.domain.subject import (
    PASSED,
    Check,
    Outcome,
    Subject,
    TemplatedText,
    on_output,
    short,
    without_lone_surrogates,
)
from promptworks_contracts.values import (
    ContainsAllAssertion,
    ContainsAnyAssertion,
    ContainsAssertion,
    EndsWithAssertion,
    EqualsAssertion,
    IContainsAssertion,
    NotContainsAssertion,
    RegexAssertion,
    StartsWithAssertion,
)


def _folder(sensitive: bool) -> Any:
    return (lambda text: text) if sensitive else str.casefold


def contains(assertion: ContainsAssertion | IContainsAssertion) -> Check:
    text = TemplatedText(assertion.value)
    fold = _folder(isinstance(assertion, ContainsAssertion) and assertion.case_sensitive)

    def check(subject: Subject, output: str) -> Outcome:
        needle = text.value(subject)
        if fold(needle) in fold(output):
            return PASSED
        return Outcome(False, short(f"output does not contain {needle!r}"))

    return on_output(check)


def not_contains(assertion: NotContainsAssertion) -> Check:
    text, fold = TemplatedText(assertion.value), _folder(assertion.case_sensitive)

    def check(subject: Subject, output: str) -> Outcome:
        needle = text.value(subject)
        if fold(needle) in fold(output):
            return Outcome(False, short(f"output contains {needle!r}"))
        return PASSED

    return on_output(check)


def contains_any(assertion: ContainsAnyAssertion) -> Check:
    texts, fold = [TemplatedText(v) for v in assertion.values], _folder(assertion.case_sensitive)

    def check(subject: Subject, output: str) -> Outcome:
        haystack = fold(output)
        needles = [text.value(subject) for text in texts]
        if any(fold(needle) in haystack for needle in needles):
            return PASSED
        return Outcome(False, short(f"output contains none of {needles!r}"))

    return on_output(check)


def contains_all(assertion: ContainsAllAssertion) -> Check:
    texts, fold = [TemplatedText(v) for v in assertion.values], _folder(assertion.case_sensitive)

    def check(subject: Subject, output: str) -> Outcome:
        haystack = fold(output)
        needles = [text.value(subject) for text in texts]
        missing = [needle for needle in needles if fold(needle) not in haystack]
        if not missing:
            return PASSED
        share = 1.0 - len(missing) / len(needles)  # how much of the list it does contain
        return Outcome(False, short(f"output lacks {missing!r}"), measured=share)

    return on_output(check)


def equals(assertion: EqualsAssertion) -> Check:
    text, strip = TemplatedText(assertion.value), assertion.strip

    def check(subject: Subject, output: str) -> Outcome:
        expected = text.value(subject)
        actual = output.strip() if strip else output
        if actual == (expected.strip() if strip else expected):
            return PASSED
        return Outcome(False, short(f"expected {expected!r}, got {actual!r}"))

    return on_output(check)


def starts_with(assertion: StartsWithAssertion) -> Check:
    text, fold, strip = (
        TemplatedText(assertion.value),
        _folder(assertion.case_sensitive),
        assertion.strip,
    )

    def check(subject: Subject, output: str) -> Outcome:
        prefix = text.value(subject)
        if fold(output.lstrip() if strip else output).startswith(fold(prefix)):
            return PASSED
        return Outcome(False, short(f"output does not start with {prefix!r}"))

    return on_output(check)


def ends_with(assertion: EndsWithAssertion) -> Check:
    text, fold, strip = (
        TemplatedText(assertion.value),
        _folder(assertion.case_sensitive),
        assertion.strip,
    )

    def check(subject: Subject, output: str) -> Outcome:
        suffix = text.value(subject)
        if fold(output.rstrip() if strip else output).endswith(fold(suffix)):
            return PASSED
        return Outcome(False, short(f"output does not end with {suffix!r}"))

    return on_output(check)


def _re2_options() -> Any:
    options = re2.Options()
    options.log_errors = False  # an invalid pattern is reported in the assertion, not on stderr
    return options


_RE2_OPTIONS: Final = _re2_options()


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (JSON can spell half a pair), which UTF-8 cannot hold: U+FFFD in its
        # place, as for a parsed output (``subject.parse_json``), not a failed claim.
        return str(without_lone_surrogates(text)).encode("utf-8")


def regex(assertion: RegexAssertion) -> Check:
    text = TemplatedText(assertion.pattern)
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
            return Outcome(False, pattern)
        # RE2 matches UTF-8 bytes either way; given a str, its wrapper encodes it and then
        # maps the match's byte offsets back to characters in Python (~2/3 of the check's
        # time), and only whether there is a match counts here.
        if pattern.search(_utf8(output)):
            return PASSED
        return Outcome(False, short(f"no match for /{source}/"))

    return on_output(check)
