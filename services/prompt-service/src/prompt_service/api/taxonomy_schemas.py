"""HTTP bodies of the class and tag endpoints: each kind has its own (a class has a
description, a tag a colour and a shorter name); the router (``taxonomy``) is one."""

from __future__ import annotations

from typing import NamedTuple
from uuid import UUID

from pydantic import Field

from prompt_service.api.schemas import WriteResponse
from promptworks_contracts.api.taxonomy import (
    CreateClassRequest,
    CreateTagRequest,
    UpdateClassRequest,
    UpdateTagRequest,
)

__all__ = ["CreateClassRequest", "CreateTagRequest", "UpdateClassRequest", "UpdateTagRequest"]


class ClassResponse(WriteResponse):
    class_id: UUID
    name: str
    description: str
    deleted: bool = False
    detached_prompt_ids: list[UUID] = Field(
        default_factory=list, description="Prompts a delete with ?detach=true moved out"
    )


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


async def new_class(body: CreateClassRequest) -> NewTerm:
    return NewTerm(body.name, body.description)


async def class_change(body: UpdateClassRequest) -> TermChange:
    return TermChange(body.name, body.description)


async def new_tag(body: CreateTagRequest) -> NewTerm:
    return NewTerm(body.name, body.color)


async def tag_change(body: UpdateTagRequest) -> TermChange:
    return TermChange(body.name, body.color)
