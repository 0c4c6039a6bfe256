"""The prompt list's filters and fuzzy search, as SQL conditions on ``prompts``.

Class and tag NAMES are resolved to ids first, with one small query on their (tiny) tables:
the planner then sees plain ``class_id = ANY(<ids>)`` / ``tag_ids && <ids>`` with known
values, estimates them right and serves them from ``ix_prompts_class`` / the GIN index. (Left
as subqueries inside an OR, they made it fall back to scanning the table.)

Search uses pg_trgm so that typos still match ("greting" finds "greeting"): a prompt matches
when the query is word-similar (``%>``, ``pg_trgm.word_similarity_threshold``, 0.6 by default)
to its name, author or class name, or a substring of one (``ILIKE``). Names and authors are
served by their GIN trigram indexes, class names by theirs (``prompt_classes``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import ColumnElement, and_, case, false, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.projects import DEFAULT_PROJECT
from query_api.projections._util import any_of
from query_api.queries.prompt_docs import LATEST
from query_api.tables import prompt_classes, prompt_tags, prompts

p = prompts.c
c = prompt_classes.c
t = prompt_tags.c

Archived = Literal["false", "true", "all"]


@dataclass(frozen=True)
class PromptFilters:
    project: str = DEFAULT_PROJECT
    """Every list is one project's (``project_id`` leads each list index)."""
    q: str | None = None
    class_id: UUID | None = None
    class_name: str | None = None
    tags: tuple[str, ...] = ()
    label: str | None = None
    archived: Archived = "false"

    @property
    def term(self) -> str:
        return (self.q or "").strip()

    @property
    def unfiltered(self) -> bool:
        """Only the archived state narrows the list."""
        return not (self.term or self.class_id or self.class_name or self.tags or self.label)

    def fingerprint(self) -> str:
        raw = repr(
            (
                self.project,
                self.term,
                self.class_id,
                self.class_name,
                self.tags,
                self.label,
                self.archived,
            )
        )
        return hashlib.blake2b(raw.encode(), digest_size=6).hexdigest()

    async def conditions(self, session: AsyncSession) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = [p.project_id == self.project]
        if self.archived != "all":
            where.append(p.archived == (self.archived == "true"))
        if self.class_id is not None:
            where.append(p.class_id == self.class_id)
        if self.class_name is not None:
            named = func.lower(c.name) == self.class_name.lower()
            ids = await _ids(session, c.class_id, and_(c.project_id == self.project, named))
            where.append(any_of(p.class_id, ids) if ids else false())
        for tag in self.tags:
            named = func.lower(t.name) == tag.lower()
            ids = await _ids(session, t.tag_id, and_(t.project_id == self.project, named))
            where.append(p.tag_ids.overlap(ids) if ids else false())
        if self.label == LATEST:
            where.append(p.version_count > 0)
        elif self.label is not None:
            where.append(p.labels.has_key(self.label))
        if self.term:
            pattern = _pattern(self.term)
            matching = _matches(c.name, self.term, pattern)
            ids = await _ids(session, c.class_id, and_(c.project_id == self.project, matching))
            fields = (p.name, p.author)
            where.append(
                or_(
                    *(_matches(f, self.term, pattern) for f in fields),
                    *([any_of(p.class_id, ids)] if ids else []),
                )
            )
        return where


async def _ids(session: AsyncSession, column: Any, condition: ColumnElement[bool]) -> list[UUID]:
    return list((await session.scalars(select(column).where(condition))).all())


def _pattern(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _matches(field: Any, term: str, pattern: str) -> ColumnElement[bool]:
    return or_(field.op("%>")(term), field.ilike(pattern))


def relevance(term: str) -> tuple[Any, ColumnElement[float]]:
    """(the FROM clause, a prompt's relevance): its best field, where a substring scores 1 and
    anything else its word similarity. Class names are scored once per class (a few hundred
    rows), not once per prompt."""
    pattern = _pattern(term)

    def field_score(field: Any) -> ColumnElement[float]:
        return case(
            (field.ilike(pattern), literal(1.0)),
            else_=func.coalesce(func.word_similarity(term, field), 0.0),
        )

    classes = (
        select(c.class_id, field_score(c.name).label("score"))
        .where(_matches(c.name, term, pattern))
        .subquery("class_scores")
    )
    source = prompts.outerjoin(classes, classes.c.class_id == p.class_id)
    best = func.greatest(field_score(p.name), field_score(p.author), classes.c.score)
    return source, best
