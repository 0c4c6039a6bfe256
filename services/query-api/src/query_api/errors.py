"""Errors of reads that name the request parameter at fault (eventkit's name the body)."""

from __future__ import annotations

from typing import Any

from promptworks_eventkit.errors import DomainError


class ParameterError(DomainError):
    """A bad query or path parameter: 422 (or the subclass's status) naming it."""

    location = "query"

    def detail(self) -> list[dict[str, Any]]:
        field = self.field or ""
        return [
            {
                "loc": [self.location, *field.split(".")],
                "field": self.field,
                "type": self.rule,
                "msg": self.message,
            }
        ]


class ParameterNotFoundError(ParameterError):
    """A query parameter names something that does not exist (a label, a version)."""

    status_code = 404


class PathNotFoundError(ParameterNotFoundError):
    """A path parameter names nothing that exists."""

    location = "path"


class BodyError(ParameterError):
    """A field of a read's request body (e.g. a render's variables)."""

    location = "body"


class BodyNotFoundError(BodyError):
    """A field of a read's request body names something that does not exist."""

    status_code = 404
