"""The SDK clients' requests, built once per path and reused with a new body.

The SDKs (``openai``, ``anthropic``) build every request from scratch: the base URL merged and
parsed again, auth and default headers merged into a new header model, httpx2's own merge of
the client's headers, URL and timeout. That is ~0.3 ms of CPU per call, a third of what a call
costs the orchestrator at hundreds of calls per second (ADR 0021). For a plain JSON POST by a
client whose base URL, key and headers never change (ours: one client per provider
configuration, never mutated; a changed configuration builds a new client), everything but
the body is the same for every call to one path. So the first request to a (method, path,
retry count) is built by the SDK as always and kept; later ones are that request with the new
body (httpx2 sets ``Host`` and ``Content-Length`` as for any request).

Everything else stays the SDK's: its options hooks, auth, status errors as exception classes,
the aiohttp transport and its session. A request with anything beyond a JSON body (query,
custom headers, files, raw content, a per-call timeout, extra JSON) is built by the SDK.
``post_json``, the providers' call path, sends a path's later requests straight through the
SDK's aiohttp session (direct.py) rather than through the SDK's ``request`` and httpx2.
``tests/test_request_templates.py`` checks that a templated request equals the SDK's own, so an
SDK upgrade that changes how requests are built fails there, not in production.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import httpx2

from run_orchestrator.providers.direct import (
    TRANSPORT_FAILURES,
    DirectRoute,
    Redirected,
    route_for,
    status_response,
)

CONTENT_LENGTH = "Content-Length"


class RequestOptions(Protocol):
    """The fields of the SDKs' ``FinalRequestOptions`` that decide whether a template fits."""

    method: str
    url: str
    params: Any
    headers: Any
    timeout: Any
    files: Any
    content: Any
    json_data: Any
    extra_json: Any
    follow_redirects: bool | None


def body_bytes(body: Any) -> bytes:
    """JSON as the SDKs send it (httpx's defaults: compact, UTF-8, no NaN)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


@dataclass(frozen=True, slots=True)
class RequestTemplate:
    method: str
    url: httpx2.URL
    headers: httpx2.Headers
    """The SDK's headers in its order but the body's length, which comes last."""
    extensions: dict[str, Any]

    @classmethod
    def of(cls, request: httpx2.Request) -> RequestTemplate:
        headers = httpx2.Headers(request.headers)
        del headers[CONTENT_LENGTH]
        return cls(request.method, request.url, headers, dict(request.extensions))

    def build(self, content: bytes) -> httpx2.Request:
        """The request with this body; its headers copied as they are (httpx2 would parse
        and normalise them again from content=), the length appended as httpx2 does."""
        headers = httpx2.Headers(self.headers)
        headers[CONTENT_LENGTH] = str(len(content))
        request = httpx2.Request(
            self.method,
            self.url,
            headers=headers,
            stream=httpx2.ByteStream(content),
            extensions=self.extensions,
        )
        request.read()  # the body is in memory: .content as for content=
        return request


def templatable(options: RequestOptions) -> bool:
    """Only a JSON body differs from one call to the next."""
    return (
        options.method.lower() == "post"
        and isinstance(options.json_data, dict)
        and not options.params
        and not options.headers  # NotGiven and {} are falsy
        # NotGiven (the client's timeout; falsy): None or a number would change the template.
        and options.timeout is not None
        and not options.timeout
        and options.files is None
        and options.content is None
        and options.extra_json is None
        and options.follow_redirects is None
    )


class RequestTemplates:
    """One per SDK client: its templates by (method, path, retries taken)."""

    def __init__(self) -> None:
        self._templates: dict[tuple[str, str, int], RequestTemplate] = {}

    def get(self, method: str, path: str, retries_taken: int = 0) -> RequestTemplate | None:
        return self._templates.get((method, path, retries_taken))

    def build(
        self,
        options: RequestOptions,
        retries_taken: int,
        build_with_sdk: Callable[[], httpx2.Request],
    ) -> httpx2.Request:
        if not templatable(options):
            return build_with_sdk()
        key = (options.method, options.url, retries_taken)
        template = self._templates.get(key)
        if template is None:
            request = build_with_sdk()
            self._templates[key] = RequestTemplate.of(request)
            return request
        return template.build(body_bytes(options.json_data))


class TemplatedClient:
    """Mixed in before an SDK client class (``class C(TemplatedClient, openai.AsyncOpenAI)``):
    its requests built by ``RequestTemplates``, and ``post_json`` for the call path.

    ``options_type`` is that SDK's ``FinalRequestOptions``; ``sdk_client`` the SDK class, whose
    name the user agent keeps (the SDKs name it after ``type(self)``, which would be ours);
    ``transport_type`` its vendored aiohttp transport and ``_map_exceptions`` that
    transport's map of aiohttp's exceptions to httpx2's; ``timeout_error`` and
    ``connection_error`` the exceptions its ``request`` raises for those."""

    options_type: ClassVar[Any]
    sdk_client: ClassVar[type]
    transport_type: ClassVar[type]
    timeout_error: ClassVar[Callable[..., Exception]]
    connection_error: ClassVar[Callable[..., Exception]]
    _templates: RequestTemplates | None = None
    _post_options: Any = None
    _routes: dict[str, DirectRoute | None] | None = None
    """Per path: its direct route; None when its calls go through the SDK (a client that does
    not send plainly, a path that redirected); absent until its request has been built."""
    _first_calls: dict[str, asyncio.Event] | None = None
    sdk_calls: int = 0
    """Calls that went through the SDK's ``request`` (a path's first, and any not direct)."""

    async def post_json(self, path: str, body: dict[str, Any]) -> bytes:
        """The body of the answer to a JSON POST to ``path``; the SDK's exceptions for a
        failure. The path's first call goes through the SDK's ``request`` (which builds and
        keeps the path's request); later ones straight through the SDK's aiohttp session
        (direct.py) when the client sends plainly (no auth hooks, no custom auth). Calls
        that arrive while the first is being built wait for it (a few ms: the SDK detects
        the platform once) rather than all taking the SDK's path."""
        if self._routes is None:
            self._routes, self._first_calls = {}, {}
        routes, first_calls = self._routes, self._first_calls
        assert first_calls is not None
        if path not in routes and path in first_calls:
            await first_calls[path].wait()
        route = routes.get(path)
        if route is not None:
            content = body_bytes(body)
            try:
                answer = await route.post(content)
            except Redirected:
                routes[path] = None  # this path's calls go through the SDK, which follows
            except httpx2.TimeoutException as error:
                raise self.timeout_error(request=self._sent_request(path, content)) from error
            except TRANSPORT_FAILURES as error:
                raise self.connection_error(request=self._sent_request(path, content)) from error
            else:
                if answer.status < 300:
                    return answer.body
                failed = status_response(answer, self._sent_request(path, content))
                raise self._make_status_error_from_response(failed)  # type: ignore[attr-defined]
        if path not in routes and path not in first_calls:
            first_calls[path] = asyncio.Event()
        self.sdk_calls += 1
        try:
            return (await self._sdk_post(path, body)).content
        finally:
            self._routed(path)

    def _routed(self, path: str) -> None:
        """Once ``path``'s request is built: its route, and the calls waiting for it go on."""
        routes, first_calls = self._routes, self._first_calls
        if routes is None or first_calls is None:
            return  # no post_json yet (another SDK call built a request)
        if path not in routes and self._templates and self._templates.get("post", path):
            routes[path] = self._route(path)
        # Also when the first call failed before its request was built: the next call to
        # arrive is the path's first then.
        waiting = first_calls.pop(path, None)
        if waiting is not None:
            waiting.set()

    async def _sdk_post(self, path: str, body: dict[str, Any]) -> httpx2.Response:
        """``post(path, body=body, cast_to=httpx2.Response)`` from a copy of one options
        model (``post`` builds it anew per call, deep-copying its defaults)."""
        if self._post_options is None:
            self._post_options = self.options_type.construct(method="post", url=path)
        options = self._post_options.model_copy(update={"url": path, "json_data": body})
        response: httpx2.Response = await self.request(httpx2.Response, options)  # type: ignore[attr-defined]
        return response

    def _map_exceptions(self) -> AbstractContextManager[None]:
        """The SDK transport's map of aiohttp's exceptions to httpx2's (each SDK's own)."""
        raise NotImplementedError

    def _sends_plainly(self) -> bool:
        """Whether a request goes out as the SDK built it: no auth flow or hook that adds to
        it at send time. Each SDK's client adds its own checks."""
        client = self._client  # type: ignore[attr-defined]
        return (
            self.custom_auth is None  # type: ignore[attr-defined]
            and client.auth is None
            and not any(client.event_hooks.values())
        )

    def _route(self, path: str) -> DirectRoute | None:
        template = self._templates.get("post", path) if self._templates else None
        if template is None or not self._sends_plainly():
            return None
        return route_for(
            template.url,
            template.headers,
            template.extensions,
            self._client._transport_for_url(template.url),  # type: ignore[attr-defined]
            self.transport_type,
            self._map_exceptions,
        )

    def _sent_request(self, path: str, content: bytes) -> httpx2.Request:
        """The request a direct call sent, as the SDK's exceptions carry it."""
        template = self._templates.get("post", path) if self._templates else None
        assert template is not None, "a direct route exists only for a templated path"
        return template.build(content)

    @property
    def user_agent(self) -> str:
        return f"{self.sdk_client.__name__}/Python {self._version}"  # type: ignore[attr-defined]

    def _build_request(self, options: Any, *, retries_taken: int = 0) -> httpx2.Request:
        if self._templates is None:
            self._templates = RequestTemplates()
        sdk_build = super()._build_request  # type: ignore[misc]
        request = self._templates.build(
            options, retries_taken, lambda: sdk_build(options, retries_taken=retries_taken)
        )
        if self._first_calls and options.url in self._first_calls:
            self._routed(options.url)  # before the first call's answer: the others go on
        return request
