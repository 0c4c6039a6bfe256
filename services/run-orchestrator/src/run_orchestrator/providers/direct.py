"""A templated JSON POST sent straight through the aiohttp session under the SDK's client.

The SDKs send through httpx2's ``AsyncClient.send`` (auth flow, redirect and cookie handling,
event hooks, timers) and the vendored aiohttp transport, which converts httpx2's headers for
aiohttp per call and streams every body back through an async iterator into an httpx2
``Response``; the SDK's ``request`` copies its options twice and reads the response again.
That was ~60 % of the orchestrator's CPU per call at hundreds of calls per second (ADR 0021).

For a plain JSON POST whose request the SDK already built once (templates.py), a
``DirectRoute`` is what that request becomes on the wire, computed once: the URL as a yarl
URL, the headers as aiohttp's multidict, the timeout as aiohttp's ``ClientTimeout``, the proxy,
all exactly as the SDK's transport derives them per request, and the transport's own
``ClientSession`` (its pool). A call then is one ``session.request`` and one ``read``.

What stays the SDK's: the request's definition (base URL, auth and default headers, path,
timeout), the session and its pool, and the meaning of failures: transport errors go through
the SDK transport's own aiohttp-to-httpx2 map and become the SDK's ``APITimeoutError`` /
``APIConnectionError`` as its ``request`` makes them, and a status >= 400 becomes the SDK's
status error class from ``_make_status_error_from_response``. A redirect is not followed here:
the caller sends that call through the SDK, which follows it as it always did.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx2
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

CONTENT_ENCODING = "content-encoding"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    """Decoded (gzip, deflate) as the SDK's client decodes it."""


class Redirected(Exception):
    """The provider answered with a redirect, which only the SDK's client follows."""


@dataclass(frozen=True, slots=True)
class DirectRoute:
    session: aiohttp.ClientSession
    url: URL
    headers: CIMultiDict[str]
    """The template's headers (the SDK's, in its order) without ``Content-Length``, which
    aiohttp sets from the body as httpx2 does."""
    timeout: aiohttp.ClientTimeout
    server_hostname: str | None
    proxy: str | None
    proxy_auth: aiohttp.BasicAuth | None
    proxy_headers: Any
    map_exceptions: Callable[[], AbstractContextManager[None]]

    async def post(self, content: bytes) -> Answer:
        """One POST of ``content``; raises the httpx2 exception the SDK's transport would
        raise for a transport failure (its own map), ``Redirected`` for a 3xx."""
        with self.map_exceptions():
            async with self.session.request(
                "POST",
                self.url,
                data=content,
                headers=self.headers,
                allow_redirects=False,
                auto_decompress=True,
                compress=False,
                timeout=self.timeout,
                server_hostname=self.server_hostname,
                proxy=self.proxy,
                proxy_auth=self.proxy_auth,
                proxy_headers=self.proxy_headers,
            ) as response:
                if 300 <= response.status < 400:
                    raise Redirected(response.status)
                body = await response.read()
                return Answer(response.status, response.headers, body)


def route_for(
    url: httpx2.URL,
    headers: httpx2.Headers,
    extensions: dict[str, Any],
    transport: Any,
    transport_type: type[Any],
    map_exceptions: Callable[[], AbstractContextManager[None]],
) -> DirectRoute | None:
    """The route of a request the SDK built (its URL, headers and extensions) through
    ``transport``, the one the SDK's httpx2 client picks for the URL (a proxy's, when one is
    configured); None when that is not the SDK's aiohttp transport or not an HTTP URL."""
    if type(transport) is not transport_type or url.scheme not in ("http", "https"):
        return None
    session = transport.client
    if not isinstance(session, aiohttp.ClientSession):
        # The transport opens its session on its first request; the same call, made early.
        session = transport.client = transport.get_client()
    if session.closed:
        return None
    timeout = extensions.get("timeout", {})
    proxy = transport.proxy
    wire_headers = CIMultiDict(headers.multi_items())
    wire_headers.popall("content-length", None)
    wire_headers.popall("transfer-encoding", None)
    return DirectRoute(
        session=session,
        url=URL(str(url), encoded=True),
        headers=wire_headers,
        timeout=aiohttp.ClientTimeout(
            sock_connect=timeout.get("connect"),
            sock_read=timeout.get("read"),
            connect=timeout.get("pool"),
        ),
        server_hostname=extensions.get("sni_hostname"),
        proxy=str(proxy.url) if proxy else None,
        proxy_auth=aiohttp.BasicAuth(proxy.auth[0], proxy.auth[1])
        if proxy and proxy.auth
        else None,
        proxy_headers=proxy.headers if proxy else None,
        map_exceptions=map_exceptions,
    )


def status_response(answer: Answer, request: httpx2.Request) -> httpx2.Response:
    """The httpx2 response the SDK's client would have made of a failed call's answer, for the
    SDK's status error (its message, body and headers: ``Retry-After``, request ids). The body
    is already decoded, so its ``Content-Encoding`` is left out."""
    headers = [(k, v) for k, v in answer.headers.items() if k.lower() != CONTENT_ENCODING]
    return httpx2.Response(answer.status, headers=headers, content=answer.body, request=request)


TRANSPORT_FAILURES: tuple[type[BaseException], ...] = (httpx2.RequestError, ssl.SSLError)
"""What the SDKs' ``request`` wraps as a connection error (timeouts, httpx2's subclass, as a
timeout error); ``ssl.SSLError`` as their ``request_exceptions()`` lists it."""
