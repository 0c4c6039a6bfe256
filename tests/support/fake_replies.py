"""How a fake LLM server answers, told per test: slowly, with 429 + Retry-After, 5xx, hanging,
with a malformed body; and what it saw (request times, concurrency), for rate assertions.

    fake.latency = 0.2                                  # every answer takes 200 ms
    fake.then(Reply.rate_limited(1.5), Reply.error(500))  # the next two requests, then normal
    fake.rate_limit_above = 4                           # 429 whenever more than 4 are in flight
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

ReplyKind = Literal["ok", "status", "hang", "malformed", "redirect"]


@dataclass(frozen=True)
class Reply:
    kind: ReplyKind = "ok"
    status: int = 200
    retry_after: float | None = None
    delay: float = 0.0

    @classmethod
    def ok(cls, delay: float = 0.0) -> Reply:
        return cls("ok", delay=delay)

    @classmethod
    def rate_limited(cls, retry_after: float | None = None) -> Reply:
        return cls("status", 429, retry_after)

    @classmethod
    def error(cls, status: int, retry_after: float | None = None) -> Reply:
        return cls("status", status, retry_after)

    @classmethod
    def hang(cls) -> Reply:
        """Accepts the request and never answers (until the server stops)."""
        return cls("hang")

    @classmethod
    def malformed(cls) -> Reply:
        """200 with a body that is not the API's JSON."""
        return cls("malformed")

    @classmethod
    def redirect(cls) -> Reply:
        """307 to the same endpoint under another path (the fake serves both)."""
        return cls("redirect", 307)


@dataclass
class ReplyScript:
    """Shared by both fakes: decides each reply and records when requests arrived."""

    latency: float = 0.0
    fail_with_status: int | None = None
    rate_limit_above: int | None = None
    script: deque[Reply] = field(default_factory=deque)
    request_times: list[float] = field(default_factory=list)
    """``time.time()`` of each request's arrival (before any scripted delay)."""
    wire: list[tuple[str, list[tuple[str, str]], bytes]] = field(default_factory=list)
    """Each request's path, headers (lower-cased names, in the order sent) and body bytes."""
    in_flight: int = 0
    max_in_flight: int = 0
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def then(self, *replies: Reply) -> None:
        """The next requests get these replies, in order; later ones answer normally."""
        self.script.extend(replies)

    def arrived(self) -> None:
        self.request_times.append(time.time())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def saw(self, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.wire.append(
            (path, [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in headers], body)
        )

    def left(self) -> None:
        self.in_flight -= 1

    def next_reply(self) -> Reply:
        if self.script:
            return self.script.popleft()
        if self.rate_limit_above is not None and self.in_flight > self.rate_limit_above:
            return Reply.rate_limited()
        if self.fail_with_status:
            return Reply.error(self.fail_with_status)
        return Reply.ok()

    async def wait(self, reply: Reply) -> None:
        delay = reply.delay or self.latency
        if reply.kind == "hang":
            await self.released.wait()  # set when the server stops, so shutdown never hangs
        elif delay > 0:
            await asyncio.sleep(delay)

    def headers(self, reply: Reply) -> dict[str, str]:
        if reply.retry_after is None:
            return {}
        return {"retry-after": f"{reply.retry_after:g}"}


def max_in_window(times: list[float], window: float) -> int:
    """The most requests seen in any half-open window of ``window`` seconds."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best
