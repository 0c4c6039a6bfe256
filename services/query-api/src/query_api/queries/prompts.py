"""Reads of prompts: a page costs three queries (count, page + current version, versions).

Search uses pg_trgm so that typos still match ("greting" finds "greeting"): a prompt matches when
the query is word-similar to its name, author or class (``%>``, threshold
``pg_trgm.word_similarity_threshold``, 0.6 by default) or is a substring of one of them
(``ILIKE``). Both operators are served by the GIN trigram indexes. Results are ordered by the
best field score (a substring match scores 1), then by whole-name similarity, then recency.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Row, Select, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from query_api.api.schemas import PromptOut, PromptVersionOut, VersionSummary
from query_api.tables import prompt_versions, prompts

p = prompts.c
v = prompt_versions.c

_CURRENT = [
    v.version_id.label("cv_id"),
    v.number.label("cv_number"),
    v.label.label("cv_label"),
    v.template.label("cv_template"),
    v.variables.label("cv_variables"),
    v.default_model.label("cv_default_model"),
    v.default_parameters.label("cv_default_parameters"),
    v.commit_message.label("cv_commit_message"),
    v.author.label("cv_author"),
    v.created_at.label("cv_created_at"),
]


def _page_query() -> Select[Any]:
    return select(prompts, *_CURRENT).outerjoin(
        prompt_versions, v.version_id == p.current_version_id
    )


async def list_prompts(
    session: AsyncSession, q: str | None, limit: int, offset: int
) -> tuple[int, list[PromptOut]]:
    """A page of prompts and the total that match, newest first or best match first."""
    query = _page_query()
    count = select(func.count()).select_from(prompts)
    term = (q or "").strip()
    if term:
        match, score = search_condition(term)
        query = query.where(match).order_by(
            score.desc(), func.similarity(p.name, term).desc(), p.updated_at.desc()
        )
        count = count.where(match)
    query = query.order_by(p.updated_at.desc(), p.prompt_id.desc()).limit(limit).offset(offset)
    total = int(await session.scalar(count) or 0)
    rows = (await session.execute(query)).all() if total > offset else []
    return total, await _assemble(session, rows)


async def get_prompt(session: AsyncSession, prompt_id: UUID) -> PromptOut | None:
    rows = (await session.execute(_page_query().where(p.prompt_id == prompt_id))).all()
    found = await _assemble(session, rows)
    return found[0] if found else None


def search_condition(term: str) -> tuple[ColumnElement[bool], ColumnElement[float]]:
    """(match, score) of a search term over name, author and class."""
    pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    fields = (p.name, p.author, p.class_name)
    match = or_(*(c.op("%>")(term) for c in fields), *(c.ilike(pattern) for c in fields))
    scores = [
        case(
            (c.ilike(pattern), literal(1.0)),
            else_=func.coalesce(func.word_similarity(term, c), 0.0),
        )
        for c in fields
    ]
    return match, func.greatest(*scores)


async def _assemble(session: AsyncSession, rows: Sequence[Row[Any]]) -> list[PromptOut]:
    if not rows:
        return []
    ids = [row.prompt_id for row in rows]
    versions: dict[UUID, list[VersionSummary]] = {prompt_id: [] for prompt_id in ids}
    listed = await session.execute(
        select(v.prompt_id, v.version_id, v.number, v.label, v.created_at)
        .where(v.prompt_id.in_(ids))
        .order_by(v.prompt_id, v.number.desc())
    )
    for prompt_id, version_id, number, label, created_at in listed:
        versions[prompt_id].append(
            VersionSummary(id=version_id, number=number, label=label, created_at=created_at)
        )
    return [_prompt(row, versions[row.prompt_id]) for row in rows]


def _prompt(row: Row[Any], versions: list[VersionSummary]) -> PromptOut:
    current = None
    if row.cv_id is not None:
        current = PromptVersionOut(
            id=row.cv_id,
            prompt_id=row.prompt_id,
            number=row.cv_number,
            label=row.cv_label,
            template=row.cv_template,
            variables=row.cv_variables,
            default_model=row.cv_default_model,
            default_parameters=row.cv_default_parameters,
            commit_message=row.cv_commit_message,
            author=row.cv_author,
            created_at=row.cv_created_at,
        )
    return PromptOut(
        id=row.prompt_id,
        name=row.name,
        description=row.description,
        author=row.author,
        class_name=row.class_name,
        tags=list(row.tags),
        current_version=current,
        versions=versions,
        version_count=row.version_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
        stream_version=row.stream_version,
    )
