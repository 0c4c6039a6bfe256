"""A one-word search's page by relevance, read in index order from ``prompt_tokens`` (ADR 0032).

``prompt_list.list_prompts`` ranks a search by scoring every prompt it matches, then sorting
them all for one page: a common word's thousands of prompts cost PostgreSQL ~10 ms a page,
whatever the page's size. Within one token (a word the query matches, or a matching class)
every prompt scores the same, so its prompts are already in relevance order in
``ix_prompt_tokens_rank`` (then the exact name, the shorter name, the most recent). A page is
then, per matched token, its first ``offset + limit + 1`` prompts (no more can reach the page:
each token's own earlier prompts are as many distinct prompts before them), merged by score,
each prompt kept once at its best token's score. The count is an index-only scan of the same
index. Same order, same count, same documents as ``list_prompts`` (``test_prompt_search``
compares the two).

Two statements on the hot pool (``HotReads``, no session): the matched words and classes with
their scores (the lexicon query of ``prompt_filters.find``), then the page with its total. They
read two snapshots: a word learned between them is missing from this one answer, as it would
be from an answer read a moment earlier.

It answers the plain search only: ``q`` of letters and digits (a one-word query), sorted by
relevance, with no other filter than the archived state. Anything else, or a query so short it
matches more than ``MAX_TOKENS`` words and classes, is ``list_prompts``'s (``None`` here).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Select,
    Subquery,
    Text,
    any_,
    bindparam,
    func,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, distinct_on

from query_api.hot_reads import HotReads
from query_api.prepared import Prepared
from query_api.projections.prompt_tokens import class_token
from query_api.queries import cursor as cursors
from query_api.queries.prompt_filters import PromptFilters, matched
from query_api.queries.prompt_list import RELEVANCE, Page, start_offset
from query_api.tables import prompt_documents, prompt_tokens

t = prompt_tokens.c
d = prompt_documents.c

MAX_TOKENS = 64
"""Beyond this many matched words and classes (a query of a letter or two), reading each one's
first page costs more than scoring the matches once: ``list_prompts`` answers."""
DECLINED = "prompt_search_declined"
"""The request's state key ``HotRoutes`` sets when this path declined its query (too many
matches), so the route goes to ``list_prompts`` without asking again."""


def applies(filters: PromptFilters, sort: str | None) -> bool:
    """A one-word query, by relevance, with no filter but the archived state."""
    term = filters.term
    return (
        sort is None
        and term.isalnum()
        and not (filters.class_id or filters.class_name or filters.tags or filters.label)
    )


async def relevance_page(
    reads: HotReads, filters: PromptFilters, limit: int, offset: int, cursor: str | None
) -> Page | None:
    """The page (``applies`` must hold), or None when the query matches too much for this
    path."""
    offset = start_offset(RELEVANCE, filters, offset, cursor)
    found = await matched(reads.rows, filters.project, filters.term, MAX_TOKENS + 1)
    if len(found) > MAX_TOKENS:
        return None
    if not found:
        return Page(0, [], None)
    tokens = [key if kind == "w" else class_token(key) for kind, key, _ in found]
    params = {
        "project": filters.project,
        "tokens": tokens,
        "scores": [value for _, _, value in found],
        "exact": filters.term.lower(),
        "reach": offset + limit + 1,
        "limit": limit + 1,
        "offset": offset,
    }
    single = len(tokens) == 1
    rows = await reads.rows(page_statement(filters.archived, single), params)
    if rows:
        total = int(rows[0]["total"])
    else:
        counted = await reads.row(count_statement(filters.archived, single), params)
        total = int(counted[0]) if counted is not None else 0
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        position = cursors.Cursor(RELEVANCE, filters.fingerprint(), offset=offset + limit)
        next_cursor = cursors.encode(position)
    return Page(total, [row["document"] for row in rows], next_cursor)


def _tokens(archived: str) -> list[ColumnElement[bool]]:
    """The project's token rows, of archived prompts or not as asked."""
    conditions = [t.project_id == bindparam("project", type_=Text)]
    if archived != "all":
        conditions.append(t.archived == (archived == "true"))
    return conditions


@cache
def page_statement(archived: str, single: bool) -> Prepared:
    matched = (
        func.unnest(bindparam("tokens", type_=ARRAY(Text)), bindparam("scores", type_=ARRAY(Float)))
        .table_valued("token", "score")
        .render_derived(name="m")
    )
    firsts = (
        select(t.prompt_id, t.name_is_token, t.name_length, t.updated_at)
        .where(*_tokens(archived), t.token == matched.c.token)
        .order_by(t.name_is_token.desc(), t.name_length, t.updated_at.desc(), t.prompt_id.desc())
        .limit(bindparam("reach", type_=BigInteger))
        .lateral("firsts")
    )
    exact = firsts.c.name_is_token & (matched.c.token == bindparam("exact", type_=Text))
    hits = (
        select(
            firsts.c.prompt_id,
            matched.c.score,
            exact.label("exact"),
            firsts.c.name_length,
            firsts.c.updated_at,
        )
        .select_from(matched.join(firsts, true()))
        .subquery("hits")
    )
    # Each prompt once, at its best token (the exact name only ever goes with a score of 1).
    best = (
        select(hits)
        .ext(distinct_on(hits.c.prompt_id))
        .order_by(hits.c.prompt_id, hits.c.score.desc(), hits.c.exact.desc())
        .subquery("best")
    )
    page = (
        select(best)
        .order_by(*_relevance(best))
        .limit(bindparam("limit", type_=BigInteger))
        .offset(bindparam("offset", type_=BigInteger))
        .subquery("page")
    )
    statement = (
        select(d.document, _counted(archived, single).scalar_subquery().label("total"))
        .select_from(page.join(prompt_documents, d.prompt_id == page.c.prompt_id))
        .order_by(*_relevance(page))
    )
    return Prepared(statement)


def _relevance(ranked: Subquery) -> list[ColumnElement[Any]]:
    """``prompt_list``'s relevance order: the score, the exact name, the shorter name, the most
    recent, the id."""
    k = ranked.c
    return [k.score.desc(), k.exact.desc(), k.name_length, k.updated_at.desc(), k.prompt_id.desc()]


def _counted(archived: str, single: bool) -> Select[Any]:
    """The matches: one token's rows are distinct prompts; several may share one."""
    counted = func.count() if single else func.count(t.prompt_id.distinct())
    return select(counted).where(
        *_tokens(archived), t.token == any_(bindparam("tokens", type_=ARRAY(Text)))
    )


@cache
def count_statement(archived: str, single: bool) -> Prepared:
    return Prepared(_counted(archived, single))
