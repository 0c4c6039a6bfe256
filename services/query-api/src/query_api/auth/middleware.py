"""Authentication of every public request, before routing and before any body is read.

A request carries its key as ``Authorization: Bearer <secret>`` or ``X-API-Key: <secret>``.
Outcomes, each in the problem shape: 401 when the key is missing, unknown, revoked or expired
(with ``WWW-Authenticate``); 403 naming the scope the key lacks; 429 with ``Retry-After``
when the key spent its rate limit. Otherwise the ``Principal`` is left in the request's state
(``request.state.principal``) for the forwarder, which records its actor.

Then the project (``auth.projects``): ``X-Project``, else the key's default project; 404 when
it does not exist, 403 when the key is not granted it, both naming ``X-Project``. It is left in
``request.state.project`` for every query and forwarded write.

The bootstrap admin key (``BOOTSTRAP_ADMIN_KEY`` or ``BOOTSTRAP_ADMIN_KEY_FILE``) lives in the
configuration, not the database: rotating it is changing the secret and restarting.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from promptworks_contracts.projects import PROJECT_HEADER, PROJECT_PATTERN
from promptworks_eventkit.problems import problem
from promptworks_eventkit.service_credential import bearer
from query_api.auth.keys import Principal
from query_api.auth.projects import ProjectStore, project_scoped
from query_api.auth.ratelimit import RateLimiter, retry_after
from query_api.auth.scopes import scope_for
from query_api.auth.store import KeyStore

log = structlog.get_logger(__name__)

API_KEY_HEADER = "X-API-Key"
BOOTSTRAP_NAME = "bootstrap-admin"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="promptworks"'}


def bootstrap_principal() -> Principal:
    return Principal(
        key_id=None,
        name=BOOTSTRAP_NAME,
        actor=BOOTSTRAP_NAME,
        scopes=frozenset({"admin"}),
        may_set_actor=True,
    )


def presented_key(headers: Headers) -> str | None:
    return bearer(headers) or (headers.get(API_KEY_HEADER) or "").strip() or None


class ApiKeyAuth:
    """ASGI middleware; ``store_of`` gives the key store once the app has started."""

    def __init__(
        self,
        app: ASGIApp,
        store_of: Callable[[], KeyStore],
        limiter: RateLimiter,
        bootstrap_key: str | None,
        projects_of: Callable[[], ProjectStore],
    ) -> None:
        self.app = app
        self._store_of = store_of
        self._projects_of = projects_of
        self._limiter = limiter
        self._bootstrap = bootstrap_key.encode() if bootstrap_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        needed = scope_for(scope["method"], scope["path"])
        if needed is None:
            await self.app(scope, receive, send)
            return
        secret = presented_key(Headers(scope=scope))
        if secret is None:
            refusal = _unauthorized(
                "an API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`"
            )
            await refusal(scope, receive, send)
            return
        try:
            principal, reason = await self._authenticate(secret)
        except Exception:  # the database is out of reach: say so, in the one shape
            log.exception("API key lookup failed")
            refusal = problem(
                503,
                detail="the API key cannot be checked right now; try again shortly",
                kind="unavailable",
                headers={"Retry-After": "1"},
            )
            await refusal(scope, receive, send)
            return
        if principal is None:
            await _unauthorized(reason)(scope, receive, send)
            return
        if not principal.allows(needed):
            refusal = problem(
                403,
                [{"loc": ["header", "Authorization"], "field": "scope", "type": "missing_scope",
                  "msg": f"this key lacks the scope {needed!r}"}],
                detail=f"the API key {principal.name!r} lacks the scope {needed!r} this "
                "operation needs",
                kind="forbidden",
                missing_scope=needed,
            )  # fmt: skip
            await refusal(scope, receive, send)
            return
        wait = self._limiter.take(str(principal.key_id or principal.name))
        if wait is not None:
            refusal = problem(
                429,
                detail=f"the API key {principal.name!r} made too many requests; retry after "
                f"{retry_after(wait)} s",
                kind="too-many-requests",
                headers={"Retry-After": retry_after(wait)},
            )
            await refusal(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["principal"] = principal
        if project_scoped(scope["path"]):
            project, refused = await self._project(principal, Headers(scope=scope))
            if refused is not None:
                await refused(scope, receive, send)
                return
            state["project"] = project
        await self.app(scope, receive, send)

    async def _project(
        self, principal: Principal, headers: Headers
    ) -> tuple[str, JSONResponse | None]:
        named = headers.get(PROJECT_HEADER)
        if named is None:
            return principal.default_project, None
        if re.fullmatch(PROJECT_PATTERN, named) is None:
            return named, _project_refusal(
                422,
                "string_pattern_mismatch",
                f"{PROJECT_HEADER} must be a project id ({PROJECT_PATTERN})",
                kind="invalid-input",
            )
        try:
            exists = await self._projects_of().exists(named)
        except Exception:
            log.exception("project lookup failed")
            return named, problem(
                503,
                detail="the project cannot be checked right now; try again shortly",
                kind="unavailable",
                headers={"Retry-After": "1"},
            )
        if not exists:
            return named, _project_refusal(
                404, "not_found", f"project {named!r} does not exist", kind="not-found"
            )
        if not principal.reaches(named):
            return named, _project_refusal(
                403,
                "project_not_granted",
                f"the API key {principal.name!r} is not granted the project {named!r}",
                kind="forbidden",
            )
        return named, None

    async def _authenticate(self, secret: str) -> tuple[Principal | None, str]:
        if self._bootstrap is not None and hmac.compare_digest(secret.encode(), self._bootstrap):
            return bootstrap_principal(), ""
        stored = await self._store_of().find(secret)
        if stored is None:
            return None, "the API key is not known"
        if stored.revoked_at is not None:
            return None, "the API key was revoked"
        if stored.expires_at is not None and stored.expires_at <= datetime.now(UTC):
            return None, "the API key has expired"
        return stored.principal, ""


def _project_refusal(status: int, rule: str, message: str, *, kind: str) -> JSONResponse:
    return problem(
        status,
        [
            {
                "loc": ["header", PROJECT_HEADER],
                "field": PROJECT_HEADER,
                "type": rule,
                "msg": message,
            }
        ],
        detail=message,
        kind=kind,
    )


def _unauthorized(detail: str) -> JSONResponse:
    return problem(401, detail=detail, kind="unauthorized", headers=CHALLENGE)
