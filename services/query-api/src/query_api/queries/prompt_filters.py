"""The prompt list's filters and fuzzy search, as SQL conditions on ``prompts``.

Class and tag NAMES are resolved to ids first, with one small query on their (tiny) tables:
the planner then sees plain ``class_id = ANY(<ids>)`` / ``tag_ids && <ids>`` with known
values, estimates them right and serves them from ``ix_prompts_class`` / the GIN index. (Left
as subqueries inside an OR, they made it fall back to scanning the table.)

Search uses pg_trgm so that typos still match ("greting" finds "greeting"): a prompt matches
when the query is word-similar (``%>``, ``pg_trgm.word_similarity_threshold``, 0.6 by default)
to its name and author (``prompts.search``: the two as one text, one GIN trigram index) or its
class name, or a substring of one (``ILIKE``). Class names are matched and scored once per
class (``prompt_classes``, its own trigram index), never once per prompt (ADR 0027).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Text,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.projects import DEFAULT_PROJECT
from query_api.prepared import Prepared, fetch_in
from query_api.projections._util import any_of
from query_api.queries.prompt_docs import LATEST
from query_api.tables import prompt_classes, prompt_tags, prompt_words, prompts

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

    async def conditions(
        self, session: AsyncSession
    ) -> tuple[list[ColumnElement[bool]], Search | None]:
        """The WHERE conditions, and with a query its ``Search`` (match and score)."""
        search = await find(session, self.project, self.term) if self.term else None
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
        if search is not None:
            where.append(search.match)
        return where, search


async def _ids(session: AsyncSession, column: Any, condition: ColumnElement[bool]) -> list[UUID]:
    return list((await session.scalars(select(column).where(condition))).all())


def _pattern(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _matches(field: Any, term: Any, pattern: Any) -> ColumnElement[bool]:
    # The substring test first: it is cheap, and settles most matches before word similarity.
    return or_(field.ilike(pattern), field.op("%>")(term))


@dataclass(frozen=True)
class Search:
    """A fuzzy query as SQL on ``prompts``: which prompts match, and how well (0-1)."""

    match: ColumnElement[bool]
    score: ColumnElement[float]


MAX_WORDS = 1000
"""Beyond this many matching words (a query of a letter or two) the lexicon's arrays would be
bigger than scoring each prompt's text: the query takes the general path."""

Matched = list[tuple[str, str, float]]
"""(kind, key, score): a class (``c``, its id) or a lexicon word (``w``) the query matches."""


async def matched(run: Any, project: str, term: str, words: int) -> Matched:
    """The project's classes and at most ``words`` lexicon words that match ``term``, with
    their scores, in one statement; ``run(statement, params)`` runs it (a session's
    ``fetch_in`` or the hot pool's ``rows``)."""
    params = {
        "project": project,
        "term": term,
        "word_term": term.lower(),
        "pattern": _pattern(term),
        "words": words,
    }
    return [(kind, key, score) for kind, key, score in await run(_matched(), params)]


@cache
def _matched() -> Prepared:
    term, pattern = bindparam("term", type_=Text), bindparam("pattern", type_=Text)
    word_term = bindparam("word_term", type_=Text)
    project = bindparam("project", type_=Text)
    w = prompt_words.c
    classes = select(
        literal("c").label("kind"),
        cast(c.class_id, Text).label("key"),
        _score(c.name, term, pattern).label("score"),
    ).where(c.project_id == project, _matches(c.name, term, pattern))
    words = (
        select(
            literal("w").label("kind"),
            w.word.label("key"),
            _score(w.word, word_term, pattern).label("score"),
        )
        .where(_matches(w.word, word_term, pattern))
        .limit(bindparam("words", type_=BigInteger))
    )
    return Prepared(union_all(classes, words))


async def find(session: AsyncSession, project: str, term: str) -> Search:
    """The lexicon (``prompt_words``) and the project's classes that match ``term``, with their
    scores, in one small query; then, for a one-word query, prompts having one of those words
    (``ix_prompts_words``: no prompt is scored on its own), else prompts whose text matches
    (``ix_prompts_search_trgm``, each match scored). A substring scores 1, anything else its
    word similarity; a prompt scores the best of its words (or text) and its class."""
    one_word = term.isalnum()
    rows = await matched(
        lambda statement, params: fetch_in(session, statement, params),
        project,
        term,
        MAX_WORDS + 1 if one_word else 0,
    )
    by_class = [(UUID(key), score) for kind, key, score in rows if kind == "c"]
    by_word = [(key, score) for kind, key, score in rows if kind == "w"]
    class_ids = [key for key, _ in by_class]
    class_score = _tiers(p.class_id, by_class, lambda column, keys: any_of(column, keys))
    if one_word and len(by_word) <= MAX_WORDS:
        found = [word for word, _ in by_word]
        text_match = p.words.overlap(found) if found else false()
        text_score = _tiers(p.words, by_word, lambda column, keys: column.overlap(keys))
    else:
        pattern = _pattern(term)
        text_match = _matches(p.search, term, pattern)
        text_score = _score(p.search, term, pattern)
    match = or_(text_match, any_of(p.class_id, class_ids)) if class_ids else text_match
    return Search(match, func.greatest(text_score, class_score))


def _score(field: Any, term: Any, pattern: Any) -> ColumnElement[float]:
    return case(
        (field.ilike(pattern), literal(1.0)),
        else_=func.coalesce(func.word_similarity(term, field), 0.0),
    )


def _tiers(column: Any, scored: list[tuple[Any, float]], test: Any) -> ColumnElement[float] | None:
    """``CASE WHEN test(column, keys of the best score) THEN that score WHEN ...``: a score per
    distinct value (a few), not per key; None when nothing is scored."""
    tiers: dict[float, list[Any]] = {}
    for key, score in scored:
        tiers.setdefault(score, []).append(key)
    if not tiers:
        return None
    whens = [
        (test(column, keys), literal(score)) for score, keys in sorted(tiers.items(), reverse=True)
    ]
    return case(*whens)
