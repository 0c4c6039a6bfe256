"""Forwards a public write to the command service that owns it, unchanged.

Invariants:
- The method, path, query string and body are forwarded as they came; the command service
  alone validates them, and its 4xx answers reach the client unchanged (status, body, type):
  every service answers errors in the one problem shape, so a forwarded error looks like one
  query-api gave.
- The call carries the service credential (``SERVICE_TOKEN``), without which the command
  services answer nothing, and who did it (``X-Actor``): the caller's API key's owner, or,
  from a key allowed to name the actor (``may_set_actor``), its ``X-Actor`` header. The
  expected version (``If-Match``) travels with the call, and so does the project the request
  acts in (``X-Project``, as the middleware resolved and checked it; never the caller's own).
- The caller's correlation id (or a new one) and W3C trace context travel with the call, so the
  events the command records are correlated with the client's request.
- A command service that cannot be reached is a 503 (nothing was written); one that accepted
  the connection but failed or timed out is a 502/504 whose message says the outcome is unknown.
"""

from __future__ import annotations

import uuid

import httpx
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from promptworks_contracts.projects import PROJECT_HEADER
from promptworks_eventkit.http import CORRELATION_HEADER
from promptworks_eventkit.problems import problem
from query_api.auth.keys import Principal

log = structlog.get_logger(__name__)

FORWARDED_HEADERS = ("traceparent", "tracestate", "if-match")


class UpstreamError(Exception):
    """The command service could not give an answer to pass on."""

    def __init__(self, status_code: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.kind = kind
        self.message = message


class CommandForwarder:
    def __init__(self, client: httpx.AsyncClient, service_token: str | None) -> None:
        self._client = client
        self._authorization = f"Bearer {service_token}".encode() if service_token else None

    async def send(
        self,
        service: str,
        method: str,
        url: str,
        request: Request,
        *,
        stream: bool = False,
        with_body: bool = True,
        body: bytes | None = None,
    ) -> httpx.Response:
        """``method url`` with the request's body (or ``body``, JSON, when given: a write
        query-api composes) and forwarded headers; errors as above. With ``stream``, the
        answer's body is left unread: the caller streams it and closes it."""
        # Values are sent as the bytes that came (Starlette decodes headers as latin-1, so
        # encoding back gives them exactly): a UTF-8 ``X-Actor: 张伟`` arrives intact.
        content_type = "application/json" if body is not None else None
        headers = {
            b"content-type": (
                content_type or request.headers.get("content-type", "application/json")
            ).encode("latin-1"),
            CORRELATION_HEADER.encode(): correlation_id(request).encode("latin-1"),
        }
        for name in FORWARDED_HEADERS:
            if name in request.headers:
                headers[name.encode()] = request.headers[name].encode("latin-1")
        if self._authorization is not None:
            headers[b"authorization"] = self._authorization
        actor = actor_header(request)
        if actor is not None:
            headers[b"x-actor"] = actor
        project: str | None = getattr(request.state, "project", None)
        if project is not None:  # checked against the key by ``auth.middleware``
            headers[PROJECT_HEADER.lower().encode()] = project.encode()
        try:
            if body is None:
                body = await request.body() if with_body else b""
            outgoing = self._client.build_request(method, url, content=body, headers=headers)
            response = await self._client.send(outgoing, stream=stream)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            log.warning("command service unreachable", service=service, error=repr(error))
            raise UpstreamError(
                503,
                "upstream-unavailable",
                f"{service} is unreachable, so nothing was written; try again shortly",
            ) from error
        except httpx.TimeoutException as error:
            log.warning("command service timed out", service=service, error=repr(error))
            raise UpstreamError(
                504,
                "upstream-timeout",
                f"{service} did not answer in time; the write may or may not have been "
                "applied: read it back before retrying",
            ) from error
        except httpx.TransportError as error:
            log.warning("command service connection failed", service=service, error=repr(error))
            raise UpstreamError(
                502,
                "upstream-failed",
                f"the connection to {service} failed mid-request; the write may or may not "
                "have been applied: read it back before retrying",
            ) from error
        if response.status_code >= 500:
            await response.aclose()
            log.error("command service failed", service=service, status=response.status_code)
            raise UpstreamError(
                502,
                "upstream-failed",
                f"{service} failed (HTTP {response.status_code}); the write may or may not "
                "have been applied: read it back before retrying",
            )
        return response


def actor_header(request: Request) -> bytes | None:
    """The ``X-Actor`` to send: the key's owner, unless the key may name the actor and did."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        return None
    if principal.may_set_actor and "x-actor" in request.headers:
        return request.headers["x-actor"].encode("latin-1")
    return principal.actor.encode()


def correlation_id(request: Request) -> str:
    """The caller's correlation id, or one minted once per request."""
    existing = request.headers.get(CORRELATION_HEADER) or getattr(
        request.state, "correlation_id", None
    )
    if existing is None:
        existing = str(uuid.uuid4())
    request.state.correlation_id = existing[:200]
    return str(request.state.correlation_id)


async def _upstream_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, UpstreamError)
    headers = {"Retry-After": "1"} if error.status_code in (503, 504) else {}
    return problem(error.status_code, detail=error.message, kind=error.kind, headers=headers)


def install_upstream_error_handler(app: FastAPI) -> None:
    app.add_exception_handler(UpstreamError, _upstream_error)
