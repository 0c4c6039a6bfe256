"""A worker's ear on the live models: LISTEN on ``CHANGES_CHANNEL``, on a connection of its own.

It tells the ``PageCache`` every project it hears of, and answers ``heard_up_to_now``: one
round trip on the listening connection, begun after the call, whose answer PostgreSQL sends
after every notification of a transaction that committed before it began (a listener is sent
its notifications whenever it waits for its client's next statement, and asyncpg hands them to
their callbacks in the order they arrived, before the round trip's own answer). A page served
from the cache after it therefore holds every change committed before the request came (tested
in ``test_page_cache``). Round trips are shared: the requests that come while one is on its way
wait for the next, so a burst of requests costs PostgreSQL one statement, not one each.

A lost or slow connection (no answer within ``round_trip_timeout``) makes the cache deaf: pages
are read from PostgreSQL until it listens again (``PageCache.hearing``), at once on a new
connection, then every ``retry_interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

from promptworks_eventkit.db import asyncpg_dsn
from query_api.pages.cache import PageCache
from query_api.read_schema import CHANGES_CHANNEL

log = logging.getLogger(__name__)

APPLICATION_NAME = "query-api page cache"
"""The listening connections' name in ``pg_stat_activity``."""


class ChangeListener:
    def __init__(
        self,
        database_url: str,
        cache: PageCache,
        round_trip_timeout: float = 2.0,
        retry_interval: float = 1.0,
    ) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self.cache = cache
        self._timeout = round_trip_timeout
        self._retry_interval = retry_interval
        self._task: asyncio.Task[None] | None = None
        self._waiting: list[asyncio.Future[bool]] = []
        """Callers of ``heard_up_to_now`` that the next round trip answers."""
        self._wanted = asyncio.Event()
        """Set when a round trip is wanted (a caller waits, or the connection was lost)."""
        self._connected = asyncio.Event()

    async def start(self) -> None:
        """Listens from now on (waits, bounded, for the first connection: the first requests
        then find the cache hearing)."""
        self._task = asyncio.create_task(self._run(), name="page-cache-listener")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._timeout):
                await self._connected.wait()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def heard_up_to_now(self) -> bool:
        """True once every change committed before this call is known to the cache; False
        when that cannot be known (deaf: read from PostgreSQL)."""
        if not self.cache.listening:
            return False
        answered: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append(answered)
        self._wanted.set()
        # Shielded: the future is shared by every caller of one round trip.
        return await asyncio.shield(answered)

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # logged; then it listens again
                log.warning(
                    "page cache listener lost its connection; pages are read from "
                    "PostgreSQL until it listens again: %s",
                    error,
                )
            await asyncio.sleep(self._retry_interval)

    async def _listen(self) -> None:
        connection: asyncpg.Connection = await asyncpg.connect(
            self._dsn, timeout=self._timeout, server_settings={"application_name": APPLICATION_NAME}
        )
        try:
            await connection.add_listener(CHANGES_CHANNEL, self._heard)
            connection.add_termination_listener(self._lost)
            self.cache.hearing()
            self._connected.set()
            while True:
                await self._wanted.wait()
                self._wanted.clear()
                waiting, self._waiting = self._waiting, []
                try:
                    await connection.execute("SELECT 1", timeout=self._timeout)
                except BaseException:
                    _answer(waiting, False)
                    raise
                _answer(waiting, True)
        finally:
            self.cache.deaf()
            self._connected.clear()
            _answer(self._waiting, False)
            self._waiting = []
            with contextlib.suppress(Exception):
                await asyncio.shield(connection.close(timeout=self._timeout))

    def _heard(self, _connection: Any, _pid: int, _channel: str, project: str) -> None:
        self.cache.changed(project)

    def _lost(self, _connection: Any) -> None:
        # Deaf at once; the loop's next round trip fails and it connects again.
        self.cache.deaf()
        self._wanted.set()


def _answer(waiting: list[asyncio.Future[bool]], heard: bool) -> None:
    for future in waiting:
        if not future.done():
            future.set_result(heard)
