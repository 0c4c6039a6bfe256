"""The hottest reads answered before FastAPI's routing (``HotRoutes``; ADR 0029).

A page of a run's results, the run list's and the prompt list's first pages cost query-api
0.5-0.9 ms of CPU each in-process, and half or more of it is not the page: FastAPI matching
the route, solving its dependencies and validating each query parameter, per request. Their
plain shapes (no filter, sort or cursor; ``limit`` and ``offset`` alone, each once, as plain
digits in range; for the prompt list also a one-word ``q``, ADR 0032), and one run without a
query string (what a progress view polls), are answered here, innermost of the middleware
(the edge, the key and its project have run), with the routes' own code: the same statement
(``HotReads``), the same ownership check (``ownership.owner_of``), the same response and
headers (``paging.page_response``, ``prompts.page_response``, ``run_response``): the same
bytes. Anything else (another parameter, a value FastAPI would refuse or parse otherwise, a
run that does not exist or is another project's, a page the one statement cannot answer) goes
on to FastAPI as before; the results page's run, already read, goes with it
(``result_page``). ``scope["route"]`` is set to the route FastAPI would have chosen: the HTTP
metrics and traces name the same template.

Each answer is kept in the worker's ``PageCache`` (ADR 0030) and served from it to the same
project's same URL until that project's models change; before serving a kept page the
``ChangeListener`` makes sure every change committed before the request was heard.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl
from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from promptworks_eventkit.http import MAX_INT32
from query_api.api import paging, prompts
from query_api.api.deps import API_PREFIX
from query_api.api.ownership import owner_of
from query_api.hot_reads import HotReads
from query_api.pages.cache import CachedPage, PageCache
from query_api.pages.listener import ChangeListener
from query_api.pages.metrics import FROM_CACHE, FROM_POSTGRES
from query_api.queries import prompt_list, prompt_search, run_documents
from query_api.queries import runs as queries
from query_api.queries.prompt_filters import PromptFilters
from query_api.queries.run_filters import DEFAULT_SORT
from query_api.tables import runs

RUNS = "/test_prompt"
RUN = RUNS + "/{run_id}"
RESULTS = RUN + "/results"
PROMPTS = "/prompts"
"""The routes' templates in their routers (``routers``), as FastAPI names them in the scope."""
_RUNS_PATH = API_PREFIX + RUNS
_PROMPTS_PATH = API_PREFIX + PROMPTS
_RUN_PATH = re.compile(
    re.escape(_RUNS_PATH) + r"/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
)
_RESULTS_PATH = re.compile(_RUN_PATH.pattern + "/results")
_DIGITS = re.compile(r"[0-9]{1,10}")
_PRE_READ = "hot_result_page"
"""The scope's state key of a results page's run read here, for the route."""

ResultRead = tuple[queries.RunForResults | None, tuple[int, str] | None]
_Query = tuple[int, int, str | None]
"""A hot query: limit, offset and the prompt list's one-word search (or None)."""


def _paging(scope: Scope, limits: tuple[int, int], search: bool = False) -> _Query | None:
    """``(limit, offset, q)`` when the query holds nothing but them, each once: the first two
    as digits in range, ``q`` (where ``search``) as letters and digits (a one-word search);
    None otherwise (FastAPI then parses, refuses or serves the rest)."""
    default_limit, max_limit = limits
    values = {"limit": default_limit, "offset": 0}
    q = None
    seen = set()
    # Parsed as Starlette parses it for FastAPI (percent escapes as UTF-8).
    for name, raw in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True):
        if name in seen:
            return None
        seen.add(name)
        if search and name == "q":
            if not raw.isalnum() or len(raw) > prompts.Q_MAX_LENGTH:
                return None
            q = raw
        elif name not in values or _DIGITS.fullmatch(raw) is None:
            return None
        else:
            values[name] = int(raw)
    limit, offset = values["limit"], values["offset"]
    if not 1 <= limit <= max_limit or offset > MAX_INT32:
        return None
    return limit, offset, q


async def result_page(
    scope: Scope, reads: HotReads, run_id: UUID, limit: int, first: int
) -> ResultRead:
    """``queries.hot_result_page``, unless ``HotRoutes`` read it for this request already."""
    pre_read = scope.get("state", {}).pop(_PRE_READ, None)
    if pre_read is not None and pre_read[0] == (run_id, limit, first):
        found: ResultRead = pre_read[1]
        return found
    return await queries.hot_result_page(reads, run_id, limit, first)


def run_response(body: str) -> Response:
    """A run's document as ``get_run`` answers it."""
    return Response(body.encode(), media_type="application/json")


def answered_results(
    request: Request, limit: int, first: int, answered: tuple[int, str]
) -> Response:
    total, body = answered
    count = max(0, min(limit, total - first))
    return paging.page_response(request, "results", first, count, total, body)


class HotRoutes:
    """ASGI middleware, the innermost; ``api``: the FastAPI app (its state), ``routers``: the
    routers whose routes these are (the runs' and the prompts')."""

    def __init__(self, app: ASGIApp, api: Any, routers: tuple[APIRouter, ...]) -> None:
        self.app = app
        self._api = api
        self._routes = {
            route.path: route
            for router in routers
            for route in router.routes
            if isinstance(route, APIRoute) and "GET" in (route.methods or ())
        }
        assert {RUNS, RUN, RESULTS, PROMPTS} <= self._routes.keys(), "the hot routes moved"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            answer = await self._answer(scope)
            if answer is not None:
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope) -> CachedPage | None:
        """The kept answer, or the page read (and kept when it may be), or None: FastAPI's."""
        path: str = scope["path"]
        project = scope.get("state", {}).get("project")
        if project is None or scope.get("root_path"):
            return None
        cache: PageCache | None = self._api.state.page_cache
        if cache is None:
            return _cached(await self._read(scope, path, project))
        key = (project, path, scope["query_string"])
        if cache.holds(key):
            listener: ChangeListener = self._api.state.page_listener
            if await listener.heard_up_to_now() and (kept := cache.get(key)) is not None:
                scope["route"] = self._routes[_template_of(path)]
                FROM_CACHE.inc()
                return kept
        token = cache.token(project)
        page = _cached(await self._read(scope, path, project))
        if page is not None:
            FROM_POSTGRES.inc()
            cache.keep(key, page, token)
        return page

    async def _read(self, scope: Scope, path: str, project: str) -> Response | None:
        run_id: UUID | None = None
        if (one := _RUN_PATH.fullmatch(path)) is not None:
            return await self._run(scope, project, UUID(one.group(1)))
        if path == _RUNS_PATH:
            template, limits = RUNS, paging.RUNS_LIMIT
        elif path == _PROMPTS_PATH:
            template, limits = PROMPTS, paging.PROMPTS_LIMIT
        elif (matched := _RESULTS_PATH.fullmatch(path)) is not None:
            template, limits, run_id = RESULTS, paging.RESULTS_LIMIT, UUID(matched.group(1))
        else:
            return None
        page = _paging(scope, limits, search=template == PROMPTS)
        if page is None:
            return None
        limit, first, q = page
        reads: HotReads = self._api.state.hot_reads
        if run_id is not None:
            answer = await _results(scope, self._api.state, reads, project, run_id, limit, first)
        elif template == RUNS:
            # ``list_runs`` without filters, sorted by its default.
            filters: dict[str, Any] = {}
            total, count, body = await run_documents.page(
                reads, project, filters, DEFAULT_SORT, limit, first
            )
            answer = paging.page_response(Request(scope), "runs", first, count, total, body)
        elif q is None:
            # ``list_prompts`` unfiltered, by its default sort, archived prompts hidden.
            found = await prompt_list.hot_page(reads, PromptFilters(project), None, limit, first)
            answer = prompts.page_response(Request(scope), found)
        else:
            # ``list_prompts`` searching one word by relevance (None: a query for its path).
            search = PromptFilters(project, q=q)
            searched = await prompt_search.relevance_page(reads, search, limit, first, None)
            if searched is None:
                scope.setdefault("state", {})[prompt_search.DECLINED] = True
                return None
            answer = prompts.page_response(Request(scope), searched)
        if answer is not None:
            scope["route"] = self._routes[template]
        return answer

    async def _run(self, scope: Scope, project: str, run_id: UUID) -> Response | None:
        """``get_run``, without a query string; None (the route's 404) for a run the project
        does not have."""
        if scope["query_string"]:
            return None
        body = await run_documents.one(self._api.state.hot_reads, project, run_id)
        if body is None:
            return None
        scope["route"] = self._routes[RUN]
        return run_response(body)


def _template_of(path: str) -> str:
    """The route template of a hot path (one ``_read`` answered)."""
    if path == _RUNS_PATH:
        return RUNS
    if path == _PROMPTS_PATH:
        return PROMPTS
    return RUN if _RUN_PATH.fullmatch(path) else RESULTS


def _cached(answer: Response | None) -> CachedPage | None:
    """The answer as the cache keeps it: the same status, headers and body."""
    if answer is None:
        return None
    return CachedPage(answer.status_code, tuple(answer.raw_headers), bytes(answer.body))


async def _results(
    scope: Scope, state: Any, reads: HotReads, project: str, run_id: UUID, limit: int, first: int
) -> Response | None:
    """``list_results`` of the latest evaluation, unfiltered, by offset."""
    owner = await owner_of(state, runs, "run_id", run_id)
    if owner is not None and owner != project:
        return None  # the route answers the 404
    read = await queries.hot_result_page(reads, run_id, limit, first)
    run, answered = read
    if run is None or answered is None:
        scope.setdefault("state", {})[_PRE_READ] = ((run_id, limit, first), read)
        return None
    return answered_results(Request(scope), limit, first, answered)
