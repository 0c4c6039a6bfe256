"""Request bodies of the prompt class and tag writes: each kind has its own (a class has a
description, a tag a colour and a shorter name)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from promptworks_contracts.api.prompts import Body, Name, TagName
from promptworks_contracts.events.prompt import COLOR_PATTERN

_COLOR = re.compile(COLOR_PATTERN)


def _color(value: str) -> str:
    if not _COLOR.match(value):
        raise PydanticCustomError(
            "string_pattern_mismatch",
            "must be a colour written #RRGGBB in hexadecimal, e.g. #1F77B4 (got {value!r})",
            {"value": value[:20]},
        )
    return value


Color = Annotated[str, Field(examples=["#1F77B4"]), AfterValidator(_color)]
Description = Annotated[str, Field(max_length=5000)]


class CreateClassRequest(Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "support", "description": "Customer support"}]}
    )

    name: Name
    description: Description = ""


class UpdateClassRequest(Body):
    """Fields left out keep their value."""

    name: Name | None = None
    description: Description | None = None


class CreateTagRequest(Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "onboarding", "color": "#1F77B4"}]}
    )

    name: TagName
    color: Color


class UpdateTagRequest(Body):
    """Fields left out keep their value."""

    name: TagName | None = None
    color: Color | None = None
