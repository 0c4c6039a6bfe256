"""Reads of classes and tags, each with how many prompts use it (archived ones excluded).

Counts are taken at read time from ``prompts`` (per class through ``ix_prompts_class``, an
index-only scan; per tag through the GIN index on ``tag_ids``), so no counter can drift when
class, tag and prompt events arrive in any order.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, true
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.ext.asyncio import AsyncSession

from query_api.schemas.prompts import ClassOut, TagList, TagOut
from query_api.tables import prompt_classes, prompt_tags, prompts

p = prompts.c
c = prompt_classes.c
t = prompt_tags.c


def _classes() -> Select[Any]:
    usage = (
        select(
            func.count().label("prompt_count"),
            func.max(p.updated_at).label("latest_prompt_updated_at"),
        )
        .where(p.class_id == c.class_id, p.archived.is_(False))
        .lateral("usage")
    )
    return select(prompt_classes, usage.c.prompt_count, usage.c.latest_prompt_updated_at).join(
        usage, true()
    )


def _class_out(row: Any) -> ClassOut:
    return ClassOut(
        id=row.class_id,
        name=row.name,
        description=row.description,
        prompt_count=row.prompt_count,
        latest_prompt_updated_at=row.latest_prompt_updated_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        stream_version=row.stream_version,
    )


async def list_classes(
    session: AsyncSession, project: str, q: str | None, limit: int, offset: int
) -> tuple[int, list[ClassOut]]:
    """The project's classes by name; best match first when ``q`` is given (trigram, as for
    prompts)."""
    term = (q or "").strip()
    match: ColumnElement[bool] = c.project_id == project
    order: list[Any] = [c.name, c.class_id]
    if term:
        pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        match = and_(match, or_(c.name.op("%>")(term), c.name.ilike(pattern)))
        order = [func.word_similarity(term, c.name).desc(), *order]
    count = select(func.count()).select_from(prompt_classes).where(match)
    total = int(await session.scalar(count) or 0)
    rows = await session.execute(
        _classes().where(match).order_by(*order).limit(limit).offset(offset)
    )
    return total, [_class_out(row) for row in rows]


async def get_class(session: AsyncSession, project: str, class_id: UUID) -> ClassOut | None:
    query = _classes().where(c.class_id == class_id, c.project_id == project)
    row = (await session.execute(query)).first()
    return None if row is None else _class_out(row)


def _tags() -> Select[Any]:
    used = (
        select(func.count())
        .where(p.tag_ids.contains(array([t.tag_id])), p.archived.is_(False))
        .scalar_subquery()
    )
    return select(prompt_tags, used.label("prompt_count"))


def _tag_out(row: Any) -> TagOut:
    return TagOut(
        id=row.tag_id,
        name=row.name,
        color=row.color,
        prompt_count=row.prompt_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
        stream_version=row.stream_version,
    )


async def list_tags(
    session: AsyncSession, project: str, limit: int, offset: int
) -> tuple[int, TagList]:
    """A page of the project's tags by name, and how many there are (tags are few: the
    original API did not page them, and the default page holds them all)."""
    mine = t.project_id == project
    total = int(await session.scalar(select(func.count()).where(mine)) or 0)
    rows = await session.execute(
        _tags().where(mine).order_by(t.name, t.tag_id).limit(limit).offset(offset)
    )
    tagged = await session.scalar(
        select(func.count()).where(
            p.project_id == project, func.cardinality(p.tag_ids) > 0, p.archived.is_(False)
        )
    )
    items = [_tag_out(row) for row in rows]
    return total, TagList(items=items, tagged_prompt_total=int(tagged or 0))


async def get_tag(session: AsyncSession, project: str, tag_id: UUID) -> TagOut | None:
    query = _tags().where(t.tag_id == tag_id, t.project_id == project)
    row = (await session.execute(query)).first()
    return None if row is None else _tag_out(row)
