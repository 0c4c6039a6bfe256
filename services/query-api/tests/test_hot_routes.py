"""The hottest pages answered before FastAPI's routing (``api.hot_routes``) answer what the
routes answer, byte for byte, and leave every other shape to them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from promptworks_eventkit.metrics import HTTP_REQUESTS
from query_api.api.hot_routes import HotRoutes
from query_api.pages.metrics import FROM_CACHE

pytestmark = pytest.mark.integration

RUNS = "/api/v1/test_prompt"


async def _answer(api: Any, url: str) -> tuple[int, list[tuple[str, str]], bytes]:
    response = await api.client.get(url)
    return response.status_code, list(response.headers.multi_items()), response.content


async def test_hot_pages_are_the_routes_answers_byte_for_byte(api, catalog, monkeypatch) -> None:
    done, running = catalog.done.run_id, catalog.running.run_id
    results = f"{RUNS}/{done}/results"
    answered_here = [
        results,
        f"{results}?limit=1",
        f"{results}?limit=1&offset=2",
        f"{results}?offset=1&limit=2",
        f"{results}?limit=4",
        f"{results}?offset=3",
        f"{results}?offset=4",
        f"{results}?offset=2147483647&limit=10000",
        f"{results}?limit=%32",  # percent-encoded digits: the same value for FastAPI
        f"{RUNS}/{running}/results",  # no results yet: the empty page
        RUNS,
        f"{RUNS}?limit=1",
        f"{RUNS}?limit=2&offset=1",
        f"{RUNS}?offset=100",
        f"{RUNS}?limit=200",
        f"{RUNS}/{done}",  # one run, as a progress view polls it
        f"{RUNS}/{running}",
    ]
    left_to_fastapi = [
        f"{RUNS}/{uuid.uuid4()}",  # no such run: the route's 404
        f"{RUNS}/{str(running).upper()}",
        f"{RUNS}/{running}?x=1",
        f"{RUNS}/{uuid.uuid4()}/results",  # no such run: the route's 404
        f"{RUNS}/{str(done).upper()}/results",  # not the canonical spelling
        f"{results}?limit=0",
        f"{results}?limit=10001",
        f"{results}?limit=-1",
        f"{results}?limit=+1",
        f"{results}?limit=1&limit=2",
        f"{results}?limit=",
        f"{results}?offset=2147483648",
        f"{results}?passed=true",
        f"{results}?cursor=abc",
        f"{results}?evaluation={uuid.uuid4()}",
        f"{RUNS}?limit=201",
        f"{RUNS}?status=completed",
        f"{RUNS}?sort=cost",
        f"{RUNS}?limit=1&unknown=1",
    ]
    await same_answers(api, monkeypatch, answered_here, left_to_fastapi)


async def test_hot_prompt_pages_are_the_routes_answers(api, world, monkeypatch) -> None:
    prompts = "/api/v1/prompts"
    answered_here = [
        prompts,
        f"{prompts}?limit=1",
        f"{prompts}?offset=1",
        f"{prompts}?limit=2&offset=1",
        f"{prompts}?offset=1000",
        f"{prompts}?limit=200",
        f"{prompts}?q=greeting",  # a one-word search (ADR 0032)
        f"{prompts}?q=Greting&limit=1&offset=1",
        f"{prompts}?q=%C3%A9t%C3%A9",  # letters, percent-encoded as UTF-8
    ]
    left_to_fastapi = [
        f"{prompts}?limit=201",
        f"{prompts}?archived=all",
        f"{prompts}?sort=name",
        f"{prompts}?q=ann%20lee",  # two words
        f"{prompts}?q=",
        f"{prompts}?q=greeting&q=x",
        f"{prompts}?q=greeting&sort=name",
        f"{prompts}?q={'x' * 201}",
        f"{prompts}?q=%FF",  # not UTF-8
        f"{prompts}?tag=nope",
        f"{prompts}?cursor=abc",
        f"{prompts}?limit=1&limit=1",
    ]
    await same_answers(api, monkeypatch, answered_here, left_to_fastapi)


async def same_answers(api: Any, monkeypatch: Any, here: list[str], elsewhere: list[str]) -> None:
    """``here`` are answered by ``HotRoutes``, ``elsewhere`` are not; each is answered as the
    routes answer it, status, headers and body, and ``here`` again from the page cache."""
    answered: list[str] = []
    original = HotRoutes._answer

    async def spied(self: HotRoutes, scope: Any) -> Any:
        found = await original(self, scope)
        if found is not None:
            answered.append(scope["path"] + "?" + scope["query_string"].decode())
        return found

    monkeypatch.setattr(HotRoutes, "_answer", spied)
    hot = [await _answer(api, url) for url in here + elsewhere]
    assert [a.rstrip("?") for a in answered] == here
    assert {status for status, _, _ in hot[: len(here)]} == {200}
    # Asked again, each is served from the worker's page cache, byte for byte the same.
    served = FROM_CACHE._value.get()
    assert [await _answer(api, url) for url in here] == hot[: len(here)]
    assert FROM_CACHE._value.get() == served + len(here)

    async def never(self: HotRoutes, scope: Any) -> None:
        return None

    monkeypatch.setattr(HotRoutes, "_answer", never)
    routed = [await _answer(api, url) for url in here + elsewhere]
    for url, answer, routes_answer in zip(here + elsewhere, hot, routed, strict=True):
        assert answer == routes_answer, url


async def test_a_run_read_for_a_hot_page_is_not_read_again(api, catalog, monkeypatch) -> None:
    """A page the one statement cannot answer (here: no such run) goes on to the route with
    the run already read."""
    from query_api.queries import runs as queries

    calls = 0
    original = queries.hot_result_page

    async def counted(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        return await original(*args)

    monkeypatch.setattr(queries, "hot_result_page", counted)
    for run in (catalog.running.run_id, uuid.uuid4()):
        calls = 0
        await api.client.get(f"{RUNS}/{run}/results")
        assert calls == 1


async def test_hot_pages_are_counted_under_their_route_template(api, catalog) -> None:
    template = RUNS + "/{run_id}/results"
    counter = HTTP_REQUESTS.labels("GET", template, "200")
    before = counter._value.get()
    for offset in range(3):
        response = await api.client.get(
            f"{RUNS}/{catalog.done.run_id}/results", params={"offset": offset}
        )
        assert response.status_code == 200
    assert counter._value.get() == before + 3
    runs = HTTP_REQUESTS.labels("GET", RUNS, "200")
    before = runs._value.get()
    assert (await api.client.get(RUNS)).status_code == 200
    assert runs._value.get() == before + 1
