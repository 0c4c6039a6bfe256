"""HTTP bodies of the class and tag endpoints: each kind has its own (a class has a
description, a tag a colour and a shorter name); the router (``taxonomy``) is one."""

from __future__ import annotations

import re
from typing import Annotated, NamedTuple
from uuid import UUID

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from prompt_service.api.schemas import Body, Name, TagName, WriteResponse
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
    name: Name
    description: Description = ""


class UpdateClassRequest(Body):
    """Fields left out keep their value."""

    name: Name | None = None
    description: Description | None = None


class ClassResponse(WriteResponse):
    class_id: UUID
    name: str
    description: str
    deleted: bool = False
    detached_prompt_ids: list[UUID] = Field(
        default_factory=list, description="Prompts a delete with ?detach=true moved out"
    )


class CreateTagRequest(Body):
    name: TagName
    color: Color


class UpdateTagRequest(Body):
    name: TagName | None = None
    color: Color | None = None


class TagResponse(WriteResponse):
    tag_id: UUID
    name: str
    color: str
    deleted: bool = False
    detached_prompt_ids: list[UUID] = Field(
        default_factory=list, description="Prompts a delete with ?detach=true removed it from"
    )


# --- each kind's bodies as the one taxonomy router reads them -------------------------------


class NewTerm(NamedTuple):
    name: str
    extra: str


class TermChange(NamedTuple):
    """``None``: keep the value."""

    name: str | None
    extra: str | None


def new_class(body: CreateClassRequest) -> NewTerm:
    return NewTerm(body.name, body.description)


def class_change(body: UpdateClassRequest) -> TermChange:
    return TermChange(body.name, body.description)


def new_tag(body: CreateTagRequest) -> NewTerm:
    return NewTerm(body.name, body.color)


def tag_change(body: UpdateTagRequest) -> TermChange:
    return TermChange(body.name, body.color)
