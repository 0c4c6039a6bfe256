"""The one error body of the public API, every service, every 4xx and 5xx: RFC 9457 problem
details (``application/problem+json``) with the fields at fault in ``errors``.

``type`` names the kind of problem (a URN, stable: clients branch on it); ``title`` is the
HTTP status's phrase; ``detail`` a sentence for a human; ``errors`` one item per field at
fault, each naming where it was (``loc``: ``path``, ``query``, ``header`` or ``body`` then the
field's path), the field (dotted) and the rule it broke (``type``). A problem about the request
as a whole (an unknown route, a failure) has an empty ``errors``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:promptworks:problem:"


class ProblemItem(BaseModel):
    """One field at fault and the rule it broke."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int] = Field(
        description="Where: path, query, header or body, then the field's path",
        examples=[["body", "cases", 3, "topic"]],
    )
    field: str | None = Field(description="The field, dotted (null: the request as a whole)")
    type: str = Field(description="The rule it broke, e.g. missing, string_too_long, not_found")
    msg: str = Field(description="What is wrong, for a human")
    ctx: dict[str, Any] | None = Field(default=None, description="The rule's parameters")


class Problem(BaseModel):
    """RFC 9457 problem details, the body of every error answer."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:promptworks:problem:invalid-input",
                    "title": "Unprocessable Content",
                    "status": 422,
                    "detail": "name: must not be blank",
                    "errors": [
                        {
                            "loc": ["body", "name"],
                            "field": "name",
                            "type": "string_pattern_mismatch",
                            "msg": "must not be blank",
                        }
                    ],
                }
            ]
        },
    )

    type: str = Field(
        description="The kind of problem, urn:promptworks:problem:<kind> (invalid-input, "
        "malformed-body, not-found, conflict, version-conflict, body-too-large, "
        "method-not-allowed, internal-error, upstream-unavailable, ...)"
    )
    title: str = Field(description="The HTTP status's phrase")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What went wrong, for a human")
    errors: list[ProblemItem] = Field(
        description="The fields at fault (empty: the request as a whole)"
    )
    current_version: int | None = Field(
        default=None, description="On version-conflict: the stream's version now (send it)"
    )
