"""Reads of one prompt: its document, by label, and its versions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_eventkit.errors import NotFoundError
from query_api.queries.prompt_docs import (
    LATEST,
    VERSION_FIELDS,
    by_label,
    documents,
    prompt_by_label_out,
    prompt_out,
    version_out,
)
from query_api.schemas.prompts import PromptOut, PromptVersionOut
from query_api.tables import prompt_versions, prompts

p = prompts.c
v = prompt_versions.c


async def get_prompt(
    session: AsyncSession, prompt_id: UUID, project: str | None = None
) -> PromptOut | None:
    """The prompt (with ``project``: only if it is that project's)."""
    query = documents().where(p.prompt_id == prompt_id)
    if project is not None:
        query = query.where(p.project_id == project)
    row = (await session.execute(query)).first()
    return None if row is None else prompt_out(row)


@dataclass(frozen=True)
class LabelledPrompt:
    body: bytes
    """The JSON representation (PromptByLabelOut)."""
    etag: str


async def get_by_label(
    session: AsyncSession, prompt_id: UUID, label: str, project: str
) -> LabelledPrompt:
    """ONE query on keys only. The strong ETag names the prompt's stream version and the label,
    and ends with a digest of the representation: a class or tag rename changes the body
    without touching the prompt's stream, and must change the ETag too."""
    row = (await session.execute(by_label(prompt_id, label, project))).first()
    if row is None:
        raise prompt_not_found(prompt_id)
    prompt = prompt_by_label_out(row)
    if prompt is None:
        raise NotFoundError(
            f"prompt {prompt_id} has no label {label!r}"
            + (
                ""
                if label == LATEST
                else f" (its labels: {', '.join(sorted(row.labels)) or 'none'})"
            ),
            field="label",
        )
    body = prompt.model_dump_json().encode()
    digest = hashlib.blake2b(body, digest_size=8).hexdigest()
    return LabelledPrompt(body, f'"{prompt.stream_version}.{label}.{digest}"')


def prompt_not_found(prompt_id: UUID) -> NotFoundError:
    return NotFoundError(f"prompt {prompt_id} does not exist", field="prompt_id")


async def require_prompt(session: AsyncSession, prompt_id: UUID) -> None:
    if not await session.scalar(select(exists().where(p.prompt_id == prompt_id))):
        raise prompt_not_found(prompt_id)


def _version_select() -> Any:
    return select(*(v[name].label(f"v_{name}") for name in VERSION_FIELDS), v.prompt_id)


async def list_versions(
    session: AsyncSession, prompt_id: UUID, limit: int, offset: int
) -> tuple[int, list[PromptVersionOut]]:
    """Newest first."""
    await require_prompt(session, prompt_id)
    total = int(await session.scalar(select(func.count()).where(v.prompt_id == prompt_id)) or 0)
    rows = await session.execute(
        _version_select()
        .where(v.prompt_id == prompt_id)
        .order_by(v.number.desc())
        .limit(limit)
        .offset(offset)
    )
    return total, [_version(row) for row in rows]


async def get_version(session: AsyncSession, prompt_id: UUID, number: int) -> PromptVersionOut:
    row = (
        await session.execute(_version_select().where(v.prompt_id == prompt_id, v.number == number))
    ).first()
    if row is None:
        await require_prompt(session, prompt_id)
        raise NotFoundError(f"prompt {prompt_id} has no version {number}", field="number")
    return _version(row)


async def versions_by_number(
    session: AsyncSession, prompt_id: UUID, numbers: list[int]
) -> dict[int, PromptVersionOut]:
    rows = await session.execute(
        _version_select().where(v.prompt_id == prompt_id, v.number.in_(numbers))
    )
    return {row.v_number: _version(row) for row in rows}


def _version(row: Any) -> PromptVersionOut:
    version = version_out(row, "v_", row.prompt_id)
    assert version is not None
    return version
