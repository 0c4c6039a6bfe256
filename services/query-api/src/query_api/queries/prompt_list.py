"""The prompt list: sorts and paging (offset or keyset cursor) over ``PromptFilters``.

A page costs the filters' name lookups (tiny tables), a count and the page. The page picks its
prompt ids in the requested order (index-ordered, LIMIT/OFFSET on narrow rows) and only then
joins their stored documents (``prompt_documents``, one primary-key probe each, ADR 0027), in
the same statement, so a deep offset never touches the documents it skips. Ordered by
relevance (``q`` without ``sort``), every match is scored anyway, so the count rides along as
a window aggregate instead of a second scan; without filters it comes from the projection's
counters (``prompt_counts``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    and_,
    bindparam,
    func,
    literal,
    select,
    text,
    true,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_eventkit.errors import DomainError
from query_api.hot_reads import HotReads
from query_api.prepared import Prepared
from query_api.queries import cursor as cursors
from query_api.queries.prompt_filters import PromptFilters
from query_api.tables import prompt_counts, prompt_documents, prompts

p = prompts.c
d = prompt_documents.c

SORTS = ("updated_at", "-updated_at", "created_at", "-created_at", "name", "-name")
RELEVANCE = "relevance"

__all__ = [
    "RELEVANCE",
    "SORTS",
    "Page",
    "PromptFilters",
    "check_sort",
    "hot",
    "hot_page",
    "list_prompts",
    "start_offset",
]


def check_sort(sort: str | None) -> None:
    if sort is not None and sort not in SORTS:
        raise DomainError(f"sort must be one of {', '.join(SORTS)}", field="sort", rule="enum")


@dataclass(frozen=True)
class Page:
    total: int
    items: list[str]
    """Each prompt's document, JSON as the API answers it (``prompt_json``)."""
    next_cursor: str | None


def _order(
    sort: str, term: str, score: ColumnElement[float] | None
) -> list[tuple[ColumnElement[Any], bool]]:
    """(expression, descending) pairs; the last is always the prompt id (the tie-breaker).

    Relevance: the best field score, then the exact name, then the shorter name (for names
    that contain the query this ranks like trigram similarity, without computing it), then
    recency."""
    if score is not None:
        return [
            (score, True),
            (func.lower(p.name) == term.lower(), True),
            (func.length(p.name), False),
            (p.updated_at, True),
            (p.prompt_id, True),
        ]
    descending = sort.startswith("-")
    return [(p[sort.lstrip("-")], descending), (p.prompt_id, descending)]


def hot(filters: PromptFilters, sort: str | None, cursor: str | None) -> bool:
    """Whether ``hot_page`` answers: no filter but the archived state, a plain sort (or the
    default), paged by offset (a cursor's keys and the relevance search take the session)."""
    return filters.unfiltered and not filters.term and cursor is None and sort in (None, *SORTS)


async def hot_page(
    reads: HotReads, filters: PromptFilters, sort: str | None, limit: int, offset: int
) -> Page:
    """The page, its documents and the total (the projection's counters) in one statement."""
    sort = sort or "-updated_at"
    rows = await reads.rows(
        hot_statement(sort, filters.archived),
        {"project": filters.project, "limit": limit + 1, "offset": offset},
    )
    if rows:
        total = int(rows[0]["total"])
    else:
        found = await reads.row(_hot_count(filters.archived), {"project": filters.project})
        total = int(found[0]) if found is not None else 0
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        position = cursors.Cursor(sort, filters.fingerprint(), key=last["k0"], last_id=last["k1"])
        next_cursor = cursors.encode(position)
    return Page(total, [row["document"] for row in rows], next_cursor)


def _counted(archived: str) -> ColumnElement[Any]:
    n = prompt_counts.c
    counted = {"false": n.active, "true": n.prompts - n.active, "all": n.prompts}[archived]
    return func.coalesce(func.sum(counted), 0)


@cache
def _hot_count(archived: str) -> Prepared:
    n = prompt_counts.c
    return Prepared(select(_counted(archived)).where(n.project_id == bindparam("project")))


@cache
def hot_statement(sort: str, archived: str) -> Prepared:
    n = prompt_counts.c
    project = bindparam("project", type_=p.project_id.type)
    where = [p.project_id == project]
    if archived != "all":
        where.append(p.archived == (archived == "true"))
    order = _order(sort, "", None)
    page = (
        select(p.prompt_id.label("page_id"), *(e.label(f"k{i}") for i, (e, _) in enumerate(order)))
        .where(*where)
        .order_by(*(e.desc() if d else e.asc() for e, d in order))
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
        .subquery("page")
    )
    total = select(_counted(archived)).where(n.project_id == project).scalar_subquery()
    return Prepared(_with_documents(page, order, total.label("total")))


def _with_documents(
    page: Subquery, order: list[tuple[ColumnElement[Any], bool]], *extra: ColumnElement[Any]
) -> Select[Any]:
    """The page's rows (``page_id``, keys ``k0``...) with their stored documents, in order."""
    keys = [page.c[f"k{i}"] for i in range(len(order))]
    return (
        select(*extra, *page.c, d.document)
        .select_from(page.join(prompt_documents, d.prompt_id == page.c.page_id))
        .order_by(
            *(k.desc() if desc else k.asc() for k, (_, desc) in zip(keys, order, strict=True))
        )
    )


async def list_prompts(
    session: AsyncSession,
    filters: PromptFilters,
    sort: str | None,
    limit: int,
    offset: int,
    cursor: str | None,
) -> Page:
    sort = sort or (RELEVANCE if filters.term else "-updated_at")
    after: ColumnElement[bool] = true()
    position = _position(sort, filters, offset, cursor)
    if position is not None:
        if position.offset is not None:
            offset = position.offset
        else:
            after = _after(sort, position)
    if filters.term:
        # pg_trgm's operators are costed like an equality (COST 1) though each call costs
        # microseconds: on big tables the planner then prefers evaluating them on every row
        # (measured: 200+ ms at 100,000 prompts) over the GIN indexes (30 ms). Never faster.
        await session.execute(text("SET LOCAL enable_seqscan = off"))
    conditions, search = await filters.conditions(session)
    where = and_(true(), *conditions)
    score = search.score if search is not None and sort == RELEVANCE else None
    order = _order(sort, filters.term, score)
    keys = [expression.label(f"k{i}") for i, (expression, _) in enumerate(order)]
    if sort == RELEVANCE:
        keys.append(func.count().over().label("total"))
    page = (
        select(p.prompt_id.label("page_id"), *keys)
        .where(where, after)
        .order_by(*(e.desc() if d else e.asc() for e, d in order))
        .limit(limit + 1)
        .offset(offset)
        .subquery("page")
    )
    rows = (await session.execute(_with_documents(page, order))).all()
    if sort == RELEVANCE and rows:
        total = int(rows[0].total)
    else:
        total = await _count(session, filters, where)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        if sort == RELEVANCE:
            position = cursors.Cursor(sort, filters.fingerprint(), offset=offset + limit)
        else:
            position = cursors.Cursor(sort, filters.fingerprint(), key=last.k0, last_id=last.k1)
        next_cursor = cursors.encode(position)
    return Page(total, [row.document for row in rows], next_cursor)


def _position(
    sort: str, filters: PromptFilters, offset: int, cursor: str | None
) -> cursors.Cursor | None:
    """The cursor's position (a 422 if it is foreign, or given with an offset)."""
    if cursor is None:
        return None
    if offset:
        raise DomainError(
            "give offset or cursor, not both", field="offset", rule="cursor_and_offset"
        )
    position = cursors.decode(cursor, sort, filters.fingerprint(), "_at" in sort)
    if (sort == RELEVANCE) != (position.offset is not None):
        # Only a forged cursor: relevance pages by offset, every other sort by key.
        raise DomainError(
            "malformed cursor: pass the X-Next-Cursor of the previous page",
            field="cursor",
            rule="invalid_cursor",
        )
    return position


def start_offset(sort: str, filters: PromptFilters, offset: int, cursor: str | None) -> int:
    """Where a page sorted by ``sort`` (relevance: an offset cursor) starts."""
    position = _position(sort, filters, offset, cursor)
    if position is None:
        return offset
    assert position.offset is not None  # checked by _position
    return position.offset


async def _count(session: AsyncSession, filters: PromptFilters, where: Any) -> int:
    """Without filters (but the archived state) the projection's counters answer."""
    if filters.unfiltered:
        n = prompt_counts.c
        query = select(_counted(filters.archived)).where(n.project_id == filters.project)
    else:
        query = select(func.count()).select_from(prompts).where(where)
    return int(await session.scalar(query) or 0)


def _after(sort: str, position: cursors.Cursor) -> ColumnElement[bool]:
    column = p[sort.lstrip("-")]
    key = tuple_(column, p.prompt_id)
    bound = tuple_(
        literal(position.key, type_=column.type), literal(position.last_id, type_=p.prompt_id.type)
    )
    return key < bound if sort.startswith("-") else key > bound
