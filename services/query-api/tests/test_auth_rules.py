"""The rules of ``auth`` that need no server: which scope each operation needs, and the token
bucket's arithmetic (on a clock the test moves)."""

from __future__ import annotations

import pytest

from query_api.auth.ratelimit import RateLimiter, retry_after
from query_api.auth.scopes import scope_for


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/healthz", None),
        ("GET", "/metrics", None),
        ("GET", "/docs", None),
        ("GET", "/api/v1/openapi.json", None),
        ("GET", "/api/v1/prompts", "read"),
        ("HEAD", "/api/v1/test_prompt/1/results", "read"),
        ("POST", "/api/v1/prompts/abc/render", "read"),
        ("POST", "/api/v1/render", "read"),
        ("GET", "/api/v1/render", "read"),
        ("POST", "/api/v1/prompts", "prompts:write"),
        ("PUT", "/api/v1/prompts/abc/labels/prod", "prompts:write"),
        ("DELETE", "/api/v1/prompt-tags/abc", "prompts:write"),
        ("PATCH", "/api/v1/prompt-classes/abc", "prompts:write"),
        ("POST", "/api/v1/test_prompt/abc/cancel", "runs:write"),
        ("POST", "/api/v1/batches", "runs:write"),
        ("POST", "/api/v1/quick-test", "runs:write"),
        ("POST", "/api/v1/providers", "providers:admin"),
        ("DELETE", "/api/v1/providers/x", "providers:admin"),
        ("GET", "/api/v1/api-keys", "admin"),
        ("POST", "/api/v1/api-keys", "admin"),
        ("GET", "/api/v1/admin/dead-letters", "admin"),  # operators' reads too
        ("POST", "/api/v1/admin/dead-letters/evaluator/1/replay", "admin"),
        # Unknown writes fail closed; a look-alike prefix is not the collection.
        ("POST", "/api/v1/prompts-export", "admin"),
        ("POST", "/api/v1/something-new", "admin"),
        ("GET", "/healthz/extra", "read"),
    ],
)
def test_each_operation_needs_its_scope(method: str, path: str, scope: str | None) -> None:
    assert scope_for(method, path) == scope


def test_the_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert limiter.take("a") is None and limiter.take("a") is None
    wait = limiter.take("a")
    assert wait == pytest.approx(1.0)
    assert limiter.take("b") is None  # each key has its own bucket
    now[0] = 0.5
    assert limiter.take("a") == pytest.approx(0.5)
    now[0] = 1.0
    assert limiter.take("a") is None
    assert retry_after(0.01) == "1" and retry_after(1.2) == "2"
    assert RateLimiter(per_minute=0, burst=1).take("a") is None  # 0: no limit
