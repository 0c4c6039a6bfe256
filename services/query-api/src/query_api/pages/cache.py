"""The hot pages' answers kept in a worker's memory, dropped when their project's models change.

Pure bookkeeping, no I/O: ``ChangeListener`` (``pages.listener``) feeds it the changes it hears
and says when it may be trusted; ``HotRoutes`` reads and fills it.

Invariants:
- An answer is kept only if no change to its project was heard between the moment before its
  statement ran and the moment it is kept (``token`` ... ``keep``): a change committed after
  the statement's snapshot is then either heard before the answer is kept (it is not kept) or
  after (it drops the answer). A change committed before the snapshot is in the answer.
- Nothing is kept or served while the listener is deaf (not connected, or reconnecting:
  changes may go unheard); becoming deaf or hearing again drops everything (``deaf``,
  ``listening``).
- At most ``max_bytes`` of bodies and headers; the least recently served go first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from starlette.types import Receive, Scope, Send

from query_api.read_schema import EVERY_PROJECT

PageKey = tuple[str, str, bytes]
"""``(project, path, query string)``: everything a hot page's answer depends on (its paging
headers repeat the path and query; the host is not in them)."""
Token = tuple[int, int]


@dataclass(frozen=True, slots=True)
class CachedPage:
    """A complete answer, served as it was first written (an ASGI app)."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(k) + len(v) for k, v in self.headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A fresh list per answer: middleware may add headers to the message's list in place.
        start = {"type": "http.response.start", "status": self.status}
        await send({**start, "headers": list(self.headers)})
        await send({"type": "http.response.body", "body": self.body})


class PageCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._pages: OrderedDict[PageKey, CachedPage] = OrderedDict()
        self._keys_of: dict[str, set[PageKey]] = {}
        self._bytes = 0
        self._epoch = 0
        """Moves when every page is dropped."""
        self._project_epochs: dict[str, int] = {}
        """Per project, moves when its pages are dropped."""
        self._listening = False

    @property
    def listening(self) -> bool:
        return self._listening

    @property
    def size(self) -> tuple[int, int]:
        """Pages kept and their bytes."""
        return len(self._pages), self._bytes

    def holds(self, key: PageKey) -> bool:
        return self._listening and key in self._pages

    def get(self, key: PageKey) -> CachedPage | None:
        """The kept answer (only while listening: see ``ChangeListener.heard_up_to_now`` for
        what must come first), marked as the most recently served."""
        if not self._listening:
            return None
        page = self._pages.get(key)
        if page is not None:
            self._pages.move_to_end(key)
        return page

    def token(self, project: str) -> Token:
        """Taken before the statement whose answer may be kept (``keep``)."""
        return self._epoch, self._project_epochs.get(project, 0)

    def keep(self, key: PageKey, page: CachedPage, token: Token) -> bool:
        """Keeps ``page`` unless its project changed since ``token`` was taken (or the cache
        is deaf, or the page alone is over the bound); True when kept."""
        project = key[0]
        if not self._listening or token != self.token(project) or page.size > self.max_bytes:
            return False
        self._drop(key)
        self._pages[key] = page
        self._keys_of.setdefault(project, set()).add(key)
        self._bytes += page.size
        while self._bytes > self.max_bytes:
            self._drop(next(iter(self._pages)))
        return True

    def changed(self, project: str) -> None:
        """``project``'s models changed (``EVERY_PROJECT``: every project's)."""
        if project == EVERY_PROJECT:
            self._drop_all()
            return
        self._project_epochs[project] = self._project_epochs.get(project, 0) + 1
        for key in self._keys_of.pop(project, ()):
            page = self._pages.pop(key, None)
            if page is not None:
                self._bytes -= page.size

    def deaf(self) -> None:
        """Changes may go unheard from now on: nothing is served or kept."""
        self._listening = False
        self._drop_all()

    def hearing(self) -> None:
        """Listening again (after ``deaf``): what was kept before may be stale, so it is gone
        (``deaf`` dropped it), and answers read while deaf are not kept (the epoch moved)."""
        self._drop_all()
        self._listening = True

    def _drop(self, key: PageKey) -> None:
        page = self._pages.pop(key, None)
        if page is not None:
            self._bytes -= page.size
            keys = self._keys_of.get(key[0])
            if keys is not None:
                keys.discard(key)

    def _drop_all(self) -> None:
        self._epoch += 1
        self._pages.clear()
        self._keys_of.clear()
        self._bytes = 0
