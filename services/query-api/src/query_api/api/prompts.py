"""/api/v1/prompts reads: lists, one prompt (by label too), versions, render, diff, history."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Header, Path, Query, Request, Response

from promptworks_contracts.events.prompt import LABEL_PATTERN
from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.http import MAX_INT32
from query_api.api import paging
from query_api.api.deps import (
    CURSOR_HEADERS,
    Project,
    ReadSession,
    read_snapshot,
    set_next,
    set_total,
)
from query_api.api.ownership import owned
from query_api.hot_reads import HotReads
from query_api.queries import diff, history, prompt_list, prompt_reads, prompt_search, render
from query_api.queries.prompt_docs import LATEST
from query_api.schemas.prompts import (
    DiffOut,
    HistoryEntry,
    PromptByLabelOut,
    PromptOut,
    PromptVersionOut,
    RenderOut,
    RenderRequest,
)
from query_api.tables import prompts

router = APIRouter(prefix="/prompts", tags=["prompts"])
OWNED = [owned(prompts, "prompt_id", "prompt")]
"""On every route naming a prompt but the one read (whose single query checks the project:
the by-label fetch applications make at run time stays ONE query)."""

PromptId = Annotated[UUID, Path(description="The prompt's id")]
Q_MAX_LENGTH = 200
_LABEL = re.compile(LABEL_PATTERN)


@router.get(
    "",
    response_model=list[PromptOut],
    responses={200: {"headers": CURSOR_HEADERS}},
    summary="List, search and filter prompts",
)
async def list_prompts(
    project: Project,
    request: Request,
    q: Annotated[
        str | None,
        Query(max_length=Q_MAX_LENGTH, description="Fuzzy search on name, author and class name"),
    ] = None,
    class_id: Annotated[UUID | None, Query(description="Only prompts of this class")] = None,
    class_name: Annotated[str | None, Query(max_length=200, description="Class, by name")] = None,
    tag: Annotated[
        list[str] | None,
        Query(max_length=20, description="Tag name; repeat it: a prompt must have them all"),
    ] = None,
    label: Annotated[
        str | None, Query(max_length=50, description="Only prompts with this label")
    ] = None,
    archived: Annotated[
        Literal["false", "true", "all"], Query(description="Archived prompts: hide, only, all")
    ] = "false",
    sort: Annotated[
        str | None,
        Query(
            description="updated_at, -updated_at (default), created_at, -created_at, name, "
            "-name; with q and no sort: best match first"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=paging.PROMPTS_LIMIT[1])] = paging.PROMPTS_LIMIT[0],
    offset: Annotated[int, Query(ge=0, le=MAX_INT32)] = 0,
    cursor: Annotated[
        str | None, Query(max_length=1000, description="X-Next-Cursor of the previous page")
    ] = None,
) -> Response:
    filters = prompt_list.PromptFilters(
        project=project,
        q=q,
        class_id=class_id,
        class_name=class_name,
        tags=tuple(tag or ()),
        label=label,
        archived=archived,
    )
    prompt_list.check_sort(sort)
    reads: HotReads = request.app.state.hot_reads
    page: prompt_list.Page | None = None
    if prompt_list.hot(filters, sort, cursor):
        # The first pages of the catalogue: one statement on the hot pool (queries.prompt_list).
        page = await prompt_list.hot_page(reads, filters, sort, limit, offset)
    elif prompt_search.applies(filters, sort) and not hasattr(
        request.state, prompt_search.DECLINED
    ):
        # A one-word search by relevance, in index order (queries.prompt_search), unless
        # HotRoutes found it matches too much for that path already.
        page = await prompt_search.relevance_page(reads, filters, limit, offset, cursor)
    if page is None:
        async with read_snapshot(request) as session:
            page = await prompt_list.list_prompts(session, filters, sort, limit, offset, cursor)
    return page_response(request, page)


def page_response(request: Request, page: prompt_list.Page) -> Response:
    """The page's documents, stored as JSON (``projections.prompt_documents``), passed on as
    they are, with its paging headers."""
    body = "[" + ",".join(page.items) + "]"
    response = Response(body.encode(), media_type="application/json")
    set_total(response, page.total)
    set_next(response, request, page.next_cursor)
    return response


@router.get(
    "/{prompt_id}",
    response_model=PromptByLabelOut | PromptOut,
    summary="One prompt; with ?label= the version an application should use",
    responses={
        200: {"headers": {"ETag": {"schema": {"type": "string"}}}},
        304: {"description": "If-None-Match matched (with ?label=)"},
        404: {"description": "No such prompt, or (with ?label=) no such label"},
    },
)
async def get_prompt(
    session: ReadSession,
    project: Project,
    prompt_id: PromptId,
    label: Annotated[
        str | None,
        Query(max_length=50, description="production, staging, latest ...: adds resolved_version"),
    ] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    if label is None:
        prompt = await prompt_reads.get_prompt(session, prompt_id, project)
        if prompt is None:
            raise prompt_reads.prompt_not_found(prompt_id)
        return Response(
            prompt.model_dump_json(),
            media_type="application/json",
            headers={"ETag": f'"{prompt.stream_version}"'},
        )
    if label != LATEST and not _LABEL.match(label):
        raise DomainError(
            f"label must match {LABEL_PATTERN}", field="label", rule="string_pattern_mismatch"
        )
    found = await prompt_reads.get_by_label(session, prompt_id, label, project)
    headers = {"ETag": found.etag, "Cache-Control": "no-cache"}
    if if_none_match is not None and _matches(if_none_match, found.etag):
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type="application/json", headers=headers)


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison, as If-None-Match requires."""
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


@router.get(
    "/{prompt_id}/versions",
    response_model=list[PromptVersionOut],
    responses={200: {"headers": CURSOR_HEADERS}},
    summary="A prompt's versions, newest first",
    dependencies=OWNED,
)
async def list_versions(
    session: ReadSession,
    request: Request,
    response: Response,
    prompt_id: PromptId,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: paging.Offset = 0,
    cursor: paging.CursorParam = None,
) -> list[PromptVersionOut]:
    first = paging.start(request, "versions", offset, cursor)
    total, versions = await prompt_reads.list_versions(session, prompt_id, limit, first)
    paging.finish(response, request, "versions", first, len(versions), total)
    return versions


@router.get("/{prompt_id}/versions/{number}", summary="One version, in full", dependencies=OWNED)
async def get_version(
    session: ReadSession,
    prompt_id: PromptId,
    number: Annotated[int, Path(ge=1, le=MAX_INT32, description="The version number")],
) -> PromptVersionOut:
    return await prompt_reads.get_version(session, prompt_id, number)


@router.post(
    "/{prompt_id}/render",
    response_model=RenderOut,
    response_model_exclude_none=True,
    summary="Render a version with given variables (a preview: nothing is written)",
    dependencies=OWNED,
)
async def render_prompt(
    session: ReadSession, prompt_id: PromptId, body: RenderRequest
) -> RenderOut:
    """The current version, or ``version`` (a number), or the one ``label`` points to."""
    return await render.render_prompt(session, prompt_id, body)


@router.get("/{prompt_id}/diff", summary="What changed between two versions", dependencies=OWNED)
async def diff_versions(
    session: ReadSession,
    prompt_id: PromptId,
    from_: Annotated[int, Query(alias="from", ge=1, le=MAX_INT32, description="A version number")],
    to: Annotated[int, Query(ge=1, le=MAX_INT32, description="A version number")],
) -> DiffOut:
    return await diff.diff_versions(session, prompt_id, from_, to)


@router.get(
    "/{prompt_id}/history",
    response_model=list[HistoryEntry],
    responses={200: {"headers": CURSOR_HEADERS}},
    summary="Every change to the prompt, oldest first: who, when, what, why",
    dependencies=OWNED,
)
async def prompt_history(
    session: ReadSession,
    request: Request,
    response: Response,
    prompt_id: PromptId,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: paging.Offset = 0,
    cursor: paging.CursorParam = None,
) -> list[HistoryEntry]:
    first = paging.start(request, "history", offset, cursor)
    total, entries = await history.prompt_history_page(session, prompt_id, limit, first)
    paging.finish(response, request, "history", first, len(entries), total)
    return entries
