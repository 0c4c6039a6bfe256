"""Errors of business rules, free of any framework: a command refused names the field and the
rule. How an error becomes an HTTP answer (status, ``loc``) is decided at the API edge
(``promptworks_eventkit.http``), never here: domain packages raise these without knowing HTTP.
"""

from __future__ import annotations


class DomainError(Exception):
    """A command was refused by a business rule. ``field`` names the input at fault (dotted
    for nested fields, e.g. ``cases.3.topic``); ``rule`` names the rule it broke."""

    def __init__(self, message: str, *, field: str | None = None, rule: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.rule = rule


class NotFoundError(DomainError):
    """The command or query names something that does not exist (the thing itself, not a
    reference inside a body: an unknown ``class_id`` in a body is a ``DomainError``)."""

    def __init__(self, message: str, *, field: str | None = None, rule: str = "not_found") -> None:
        super().__init__(message, field=field, rule=rule)


class ConflictError(DomainError):
    """The command clashes with the current state (a name taken, a race lost)."""


class ConcurrencyConflictError(Exception):
    """Another writer appended to the stream first: the expected version is stale."""

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        super().__init__(
            f"stream {stream_id} is at version {actual}, the command expected {expected}"
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


def check_expected(stream_id: str, expected: int | None, actual: int) -> None:
    """``If-Match``: a client that saw another version than the current one gets a conflict."""
    if expected is not None and expected != actual:
        raise ConcurrencyConflictError(stream_id, expected, actual)
