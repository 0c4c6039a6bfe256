"""Which scope each public operation needs, decided from its method and path alone, so the
check runs before routing and the OpenAPI document is generated from the same rule.

The web console's files (``web.is_console_path``: ``/``, its client routes and its hashed
assets, GET and HEAD only) are open: a browser loads them before anyone has signed in.
Reads (GET, and the render previews, POSTs that writes nothing) need ``read``; writes need
the scope of what they change; key management, and anything not listed, needs ``admin``
(fail closed). ``admin`` grants every scope.
"""

from __future__ import annotations

from query_api.api.deps import API_PREFIX
from query_api.web import is_console_path

OPEN_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/metrics",
        "/docs",
        "/docs/oauth2-redirect",
        f"{API_PREFIX}/openapi.json",
    }
)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
WRITE_SCOPES = (
    ("/prompts", "prompts:write"),
    ("/prompt-classes", "prompts:write"),
    ("/prompt-tags", "prompts:write"),
    ("/test_prompt", "runs:write"),
    ("/batches", "runs:write"),
    ("/quick-test", "runs:write"),
    ("/evaluators", "runs:write"),
    ("/providers", "providers:admin"),
    ("/provider-presets", "providers:admin"),
)


def _under(path: str, collection: str) -> bool:
    return path == collection or path.startswith(collection + "/")


def scope_for(method: str, path: str) -> str | None:
    """The scope ``method path`` needs; None if it is open to anyone."""
    if path in OPEN_PATHS or is_console_path(method, path):
        return None
    local = path.removeprefix(API_PREFIX)
    if _under(local, "/api-keys") or _under(local, "/admin"):
        return "admin"  # key management; operators' routes (dead letters), reads included
    if method in READ_METHODS:
        return "read"
    if method == "POST" and local.startswith("/prompts/") and local.endswith("/render"):
        return "read"
    if method == "POST" and local == "/render":
        return "read"  # the preview of a template not saved yet
    if method == "POST" and local.startswith("/test_prompt/") and local.endswith("/apply"):
        return "prompts:write"  # saves advice's revision as a prompt version
    for collection, scope in WRITE_SCOPES:
        if _under(local, collection):
            return scope
    return "admin"
