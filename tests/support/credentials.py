"""The credentials test stacks run with: the service credential every command service demands
and query-api presents, and query-api's bootstrap admin key. Test-only values, not secrets.

Tests call query-api through the fixtures that hold these (``api`` in query-api's conftest,
``Stack.api_client`` in the end-to-end tests), never with ad-hoc headers.
"""

from __future__ import annotations

SERVICE_TOKEN = "test-service-token"
ADMIN_KEY = "pwk_test-bootstrap-admin-key"


def service_headers() -> dict[str, str]:
    """What a test sends to call a command service directly."""
    return {"Authorization": f"Bearer {SERVICE_TOKEN}"}


def admin_headers() -> dict[str, str]:
    """What a test sends to call query-api as the bootstrap admin."""
    return {"Authorization": f"Bearer {ADMIN_KEY}"}
