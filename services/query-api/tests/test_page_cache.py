"""The hot pages kept in a worker's memory (``query_api.pages``, ADR 0030): what is kept, when
it is dropped, and that a kept page never hides a change committed before the request came."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from promptworks_contracts.events import ResultRecorded
from promptworks_eventkit.db import asyncpg_dsn
from query_api.pages.cache import CachedPage, PageCache
from query_api.pages.listener import APPLICATION_NAME, ChangeListener
from query_api.pages.metrics import FROM_CACHE, FROM_POSTGRES
from query_api.read_schema import CHANGES_CHANNEL, EVERY_PROJECT
from query_api.rebuild import schemas

RUNS = "/api/v1/test_prompt"


def _page(body: bytes = b"[]") -> CachedPage:
    return CachedPage(200, ((b"content-type", b"application/json"),), body)


def _hearing(max_bytes: int = 10_000) -> PageCache:
    cache = PageCache(max_bytes)
    cache.hearing()
    return cache


# -- the cache's bookkeeping (no I/O) ---------------------------------------------------------


def test_a_kept_page_is_served_until_its_project_changes() -> None:
    cache = _hearing()
    mine, theirs = ("p", "/a", b""), ("q", "/a", b"")
    assert cache.keep(mine, _page(b"[1]"), cache.token("p"))
    assert cache.keep(theirs, _page(b"[2]"), cache.token("q"))
    assert cache.get(mine) == _page(b"[1]")
    cache.changed("q")
    assert cache.get(mine) == _page(b"[1]")  # another project's change
    assert cache.get(theirs) is None
    cache.changed("p")
    assert cache.get(mine) is None
    assert cache.size == (0, 0)


def test_a_page_read_across_a_change_of_its_project_is_not_kept() -> None:
    cache = _hearing()
    key = ("p", "/a", b"limit=1")
    token = cache.token("p")
    cache.changed("q")  # another project: no matter
    assert cache.keep(key, _page(), token)
    token = cache.token("p")
    cache.changed("p")  # heard while the page was read: it may be stale
    assert not cache.keep(key, _page(), token)
    assert cache.get(key) is None
    token = cache.token("p")
    cache.changed(EVERY_PROJECT)
    assert not cache.keep(key, _page(), token)


def test_nothing_is_served_or_kept_while_deaf_and_hearing_again_starts_empty() -> None:
    cache = _hearing()
    key = ("p", "/a", b"")
    cache.keep(key, _page(), cache.token("p"))
    token = cache.token("p")
    cache.deaf()
    assert not cache.holds(key) and cache.get(key) is None
    assert not cache.keep(key, _page(), cache.token("p"))
    cache.hearing()
    assert cache.get(key) is None
    assert not cache.keep(key, _page(), token)  # read before it heard again
    assert cache.keep(key, _page(), cache.token("p"))
    assert PageCache(100).get(key) is None  # deaf until its listener connects


def test_the_least_recently_served_pages_go_first_within_the_bound() -> None:
    size = _page(b"x" * 100).size
    cache = _hearing(max_bytes=3 * size)
    keys = [("p", f"/{i}", b"") for i in range(4)]
    for key in keys[:3]:
        cache.keep(key, _page(b"x" * 100), cache.token("p"))
    cache.get(keys[0])  # served: the most recent now
    cache.keep(keys[3], _page(b"x" * 100), cache.token("p"))
    assert [cache.holds(k) for k in keys] == [True, False, True, True]
    assert cache.size == (3, 3 * size)
    assert not cache.keep(("p", "/big", b""), _page(b"x" * 3 * size), cache.token("p"))
    cache.keep(keys[2], _page(b"y" * 100), cache.token("p"))  # replaced, not counted twice
    assert cache.size == (3, 3 * size)
    cache.changed("p")
    assert cache.size == (0, 0)


async def test_a_cached_page_is_sent_as_kept_with_a_fresh_header_list() -> None:
    page = _page(b"[1]")
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        if "headers" in message:
            sent.append({**message, "headers": list(message["headers"])})
            message["headers"].append((b"x-added", b"by middleware"))  # as middleware may
        else:
            sent.append(message)

    for _ in range(2):
        await page({}, None, send)  # type: ignore[arg-type]
    assert sent[2]["headers"] == [(b"content-type", b"application/json")]
    assert sent[1] == {"type": "http.response.body", "body": b"[1]"}


# -- against PostgreSQL -----------------------------------------------------------------------


@pytest.mark.integration
async def test_a_change_committed_before_the_round_trip_is_heard_before_its_answer(
    settings: Any,
) -> None:
    """The assumption ``heard_up_to_now`` rests on, many times over: a notification committed
    on one connection is handed to the listener's callback before the answer to a round trip
    begun after the commit."""
    url = settings.database_url.get_secret_value()
    cache = PageCache(1_000_000)
    listener = ChangeListener(url, cache)
    await listener.start()
    writer = await asyncpg.connect(asyncpg_dsn(url))
    try:
        assert cache.listening
        for i in range(300):
            project = f"p{i % 7}"
            key = (project, "/page", b"")
            assert cache.keep(key, _page(), cache.token(project))
            await writer.execute("SELECT pg_notify($1, $2)", CHANGES_CHANNEL, project)
            assert await listener.heard_up_to_now()
            assert not cache.holds(key), f"round {i}: the change was not heard first"
        # Concurrent callers share round trips, and each is answered.
        answers = await asyncio.gather(*(listener.heard_up_to_now() for _ in range(50)))
        assert answers == [True] * 50
    finally:
        await writer.close()
        await listener.close()
    assert not cache.listening


@pytest.mark.integration
async def test_a_rebuilds_switch_drops_every_project(settings: Any) -> None:
    url = settings.database_url.get_secret_value()
    cache = PageCache(1_000_000)
    listener = ChangeListener(url, cache)
    await listener.start()
    writer = await asyncpg.connect(asyncpg_dsn(url))
    old, new = f"switch_{uuid.uuid4().hex[:8]}", f"switched_{uuid.uuid4().hex[:8]}"
    try:
        await writer.execute(f"CREATE SCHEMA {old}")
        keys = [(p, "/page", b"") for p in ("p", "q")]
        for key in keys:
            cache.keep(key, _page(), cache.token(key[0]))
        await writer.execute(schemas._renames((old, new)))
        assert await listener.heard_up_to_now()
        assert not any(cache.holds(k) for k in keys)
    finally:
        await writer.execute(f"DROP SCHEMA IF EXISTS {old}; DROP SCHEMA IF EXISTS {new}")
        await writer.close()
        await listener.close()


def _result(run_id: uuid.UUID, repetition: int) -> ResultRecorded:
    """A new result of the catalogue's running run (a change of its project)."""
    return ResultRecorded(
        run_id=run_id,
        result_id=uuid.uuid4(),
        case_index=0,
        repetition=repetition,
        output="Hi",
        latency_ms=5.0,
    )


def _counts() -> tuple[float, float]:
    return FROM_CACHE._value.get(), FROM_POSTGRES._value.get()


async def _get(api: Any, url: str) -> tuple[int, dict[str, str], bytes]:
    response = await api.client.get(url)
    return response.status_code, dict(response.headers), response.content


@pytest.mark.integration
async def test_a_page_is_served_from_memory_until_a_change_of_its_project_is_projected(
    api: Any, catalog: Any, publisher: Any
) -> None:
    running = catalog.running
    url = f"{RUNS}/{running.run_id}/results"
    # The fixture's last changes may still be on their way to the listener: heard during the
    # first read, they would (rightly) stop its page being kept.
    assert await api.app.state.page_listener.heard_up_to_now()
    before = _counts()
    first = await _get(api, url)
    again = await _get(api, url)
    assert first == again and first[0] == 200 and first[1]["x-total-count"] == "0"
    assert _counts() == (before[0] + 1, before[1] + 1)  # read once, then served from memory

    result = _result(running.run_id, repetition=1)
    await publisher.publish([result])
    await api.applied(result, publisher.version(result))
    status, headers, body = await _get(api, url)  # at once: the change was heard first
    assert (status, headers["x-total-count"]) == (200, "1")
    assert str(result.result_id).encode() in body
    assert await _get(api, url) == (status, headers, body)


@pytest.mark.integration
async def test_another_worker_hears_what_this_one_projected(
    api: Any, catalog: Any, publisher: Any, settings: Any
) -> None:
    """A second worker (its own listener and cache, no consumer) drops the project's pages
    once the first worker's projection committed a change: the notification crosses
    processes through PostgreSQL, not through the projecting worker's memory."""
    other = PageCache(1_000_000)
    listener = ChangeListener(settings.database_url.get_secret_value(), other)
    await listener.start()
    try:
        key = ("default", f"{RUNS}/{catalog.running.run_id}/results", b"")
        assert other.keep(key, _page(), other.token("default"))
        result = _result(catalog.running.run_id, repetition=2)
        await publisher.publish([result])
        await api.applied(result, publisher.version(result))
        assert await listener.heard_up_to_now()
        assert not other.holds(key)
    finally:
        await listener.close()


@pytest.mark.integration
async def test_a_deaf_worker_reads_from_postgres_and_keeps_pages_again_once_it_hears(
    api: Any, catalog: Any, eventually: Any
) -> None:
    url = f"{RUNS}/{catalog.done.run_id}/results?limit=2"
    listener: ChangeListener = api.app.state.page_listener
    await _get(api, url)
    expected = await _get(api, url)
    admin = await asyncpg.connect(
        asyncpg_dsn(api.app.state.settings.database_url.get_secret_value())
    )
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = $1",
            APPLICATION_NAME,
        )
    finally:
        await admin.close()
    assert killed >= 1

    async def deaf_then_hearing() -> None:
        before = _counts()
        assert await _get(api, url) == expected
        assert await _get(api, url) == expected
        assert listener.cache.listening
        assert _counts()[0] > before[0]  # kept and served from memory again

    await eventually(deaf_then_hearing, within=15.0)
