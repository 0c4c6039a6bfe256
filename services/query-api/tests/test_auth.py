"""API keys through the public API (issue 11): every call but health, metrics and the docs
needs a key; 401 for a missing, unknown, revoked or expired one; 403 naming the missing scope;
429 with Retry-After past a key's rate limit. Writes record the key's owner as the actor, and
the command services answer only query-api (the service credential)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from query_api.auth.key_cache import KeyCache
from query_api.auth.store import KeyStore
from query_api.tables import READ_MODEL_TABLES
from tests.support.credentials import SERVICE_TOKEN

pytestmark = pytest.mark.integration

API = "/api/v1"
PROBLEM = "application/problem+json"


async def new_key(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post(f"{API}/api-keys", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def as_key(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def refused(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:promptworks:problem:{kind}"
    return body


async def test_keys_scopes_revocation_and_expiry(api, settings, eventually) -> None:
    transport = httpx.ASGITransport(app=api.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://query-api") as anonymous:
        # Open without a key: health, metrics, the docs and the OpenAPI document.
        for path in ("/healthz", "/metrics", "/docs", f"{API}/openapi.json"):
            assert (await anonymous.get(path)).status_code == 200, path
        missing = await anonymous.get(f"{API}/prompts")
        assert "Bearer" in missing.headers["WWW-Authenticate"]
        assert "API key is required" in refused(missing, 401, "unauthorized")["detail"]
        unknown = await anonymous.get(f"{API}/prompts", headers=as_key("pwk_nope"))
        assert refused(unknown, 401, "unauthorized")["detail"] == "the API key is not known"

        reader = await new_key(api.client, name="dashboard", scopes=["read"])
        secret = reader.pop("secret")
        assert secret.startswith("pwk_") and reader["prefix"] == secret[:12]
        assert reader["owner"] == "dashboard" and reader["created_by"] == "bootstrap-admin"
        # Either header works.
        assert (await anonymous.get(f"{API}/prompts", headers=as_key(secret))).status_code == 200
        by_header = await anonymous.get(f"{API}/prompts", headers={"X-API-Key": secret})
        assert by_header.status_code == 200
        # A reader may preview a render (a POST that writes nothing) but not write.
        write = await anonymous.post(
            f"{API}/prompts", json={"name": "x", "content": "y"}, headers=as_key(secret)
        )
        forbidden = refused(write, 403, "forbidden")
        assert forbidden["missing_scope"] == "prompts:write"
        assert "'prompts:write'" in forbidden["detail"]
        for method, path, scope in (
            ("POST", f"{API}/test_prompt", "runs:write"),
            ("POST", f"{API}/providers", "providers:admin"),
            ("GET", f"{API}/api-keys", "admin"),
        ):
            answer = await anonymous.request(method, path, json={}, headers=as_key(secret))
            assert refused(answer, 403, "forbidden")["missing_scope"] == scope, path

        # Lists and reads never carry a secret (only its digest is stored).
        listed = (await api.client.get(f"{API}/api-keys")).json()["items"]
        assert reader in listed and all("secret" not in k for k in listed)
        assert secret not in (await api.client.get(f"{API}/api-keys/{reader['id']}")).text

        # Revoked: refused at once, and the key says who revoked it.
        revoked = (await api.client.delete(f"{API}/api-keys/{reader['id']}")).json()
        assert revoked["revoked_by"] == "bootstrap-admin" and revoked["revoked_at"]
        after = await anonymous.get(f"{API}/prompts", headers=as_key(secret))
        assert refused(after, 401, "unauthorized")["detail"] == "the API key was revoked"

        # Expiry: in the past is refused; a short-lived key stops working once it passes.
        past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
        late = await api.client.post(
            f"{API}/api-keys", json={"name": "late", "scopes": ["read"], "expires_at": past}
        )
        assert refused(late, 422, "invalid-input")["errors"][0]["field"] == "expires_at"
        bad_scope = await api.client.post(f"{API}/api-keys", json={"name": "x", "scopes": ["all"]})
        assert refused(bad_scope, 422, "invalid-input")["errors"][0]["field"].startswith("scopes")
        soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        brief = (await new_key(api.client, name="brief", scopes=["read"], expires_at=soon))[
            "secret"
        ]

        async def expired() -> None:
            answer = await anonymous.get(f"{API}/prompts", headers=as_key(brief))
            assert answer.status_code == 401
            assert answer.json()["detail"] == "the API key has expired"

        await eventually(expired, within=15.0)

        # Keys are not read models: wiping what a rebuild wipes leaves them working.
        admin = (await new_key(api.client, name="ops", scopes=["admin"]))["secret"]
        engine = create_async_engine(settings.database_url.get_secret_value())
        try:
            async with engine.begin() as connection:
                names = ", ".join(table.name for table in READ_MODEL_TABLES)
                assert "api_keys" not in names
                await connection.execute(text(f"TRUNCATE {names}"))
        finally:
            await engine.dispose()
        listed_again = await anonymous.get(f"{API}/api-keys", headers={"X-API-Key": admin})
        assert listed_again.status_code == 200
        assert {k["name"] for k in listed_again.json()["items"]} >= {"dashboard", "brief", "ops"}


async def test_the_openapi_document_declares_the_keys_and_each_operations_scope(api) -> None:
    document = (await api.client.get(f"{API}/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKeyBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: `Authorization: Bearer <key>`",
    }
    assert schemes["ApiKeyHeader"]["name"] == "X-API-Key"
    create = document["paths"][f"{API}/prompts"]["post"]
    assert create["security"] == [
        {"ApiKeyBearer": ["prompts:write"]},
        {"ApiKeyHeader": ["prompts:write"]},
    ]
    assert {"401", "403", "429"} <= set(create["responses"])
    assert document["paths"][f"{API}/api-keys"]["get"]["security"][0] == {"ApiKeyBearer": ["admin"]}
    assert document["paths"]["/healthz"]["get"]["security"] == []


async def test_writes_record_the_keys_owner_and_the_command_services_answer_only_query_api(
    serve, settings, prompt_service
) -> None:
    settings = settings.model_copy(update={"prompt_service_url": prompt_service})
    async with serve(settings) as api:
        writer = await new_key(
            api.client, name="ci", owner="ci@example.com", scopes=["read", "prompts:write"]
        )
        service_key = await new_key(
            api.client, name="frontend", scopes=["prompts:write"], may_set_actor=True
        )
        # A plain key's X-Actor is ignored: the key's owner is the actor.
        created = await api.client.post(
            f"{API}/prompts",
            json={"name": "owned", "content": "hi"},
            headers={**as_key(writer["secret"]), "X-Actor": "mallory"},
        )
        assert created.status_code == 201, created.text
        prompt = created.json()
        # A service key names the actor (e.g. a frontend that signs its users in).
        edited = await api.client.post(
            f"{API}/prompts/{prompt['id']}/versions",
            json={"content": "hello"},
            headers={**as_key(service_key["secret"]), "X-Actor": "Zoë".encode()},
        )
        assert edited.status_code == 201, edited.text
        history = (await api.client.get(f"{API}/prompts/{prompt['id']}/history")).json()
        assert {h["actor"] for h in history} == {"ci@example.com", "Zoë"}

    # The command service itself: no credential, or a wrong one, is a 401; probes stay open.
    async with httpx.AsyncClient(base_url=prompt_service) as direct:
        body = {"name": "sneaky", "content": "x"}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-Actor": "admin"}):
            answer = await direct.post("/prompts", json=body, headers=headers)
            assert refused(answer, 401, "unauthorized")["detail"].startswith("this service")
        assert (await direct.get("/prompts")).status_code == 401
        assert (await direct.get("/healthz")).status_code == 200
        # With the credential the call reaches the handler (which validates the body).
        trusted = await direct.post(
            "/prompts", json={}, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}
        )
        assert refused(trusted, 422, "invalid-input")["errors"][0]["field"] == "name"


async def test_a_key_past_its_rate_limit_is_told_when_to_retry(serve, settings) -> None:
    limited = settings.model_copy(update={"rate_limit_per_minute": 1, "rate_limit_burst": 3})
    async with serve(limited) as api:
        key = (await new_key(api.client, name="busy", scopes=["read"]))["secret"]
        answers = await asyncio.gather(
            *(api.client.get(f"{API}/prompts", headers=as_key(key)) for _ in range(5))
        )
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200, 200, 200, 429, 429]
        throttled = next(a for a in answers if a.status_code == 429)
        refused(throttled, 429, "too-many-requests")
        assert 1 <= int(throttled.headers["Retry-After"]) <= 60
        # Another key has its own bucket (the admin key already spent one on the create).
        assert (await api.client.get(f"{API}/prompts")).status_code == 200


async def test_another_process_stops_a_revoked_key_within_its_cache_time(api, settings) -> None:
    """Each process keeps found keys for ``API_KEY_CACHE_SECONDS``: the revoking process
    refuses the key at once, another (worker or replica) once its entry expires."""
    now = [0.0]
    other = KeyStore(api.sessions, settings.pepper(), KeyCache(5.0, clock=lambda: now[0]))
    key = await new_key(api.client, name="cached", scopes=["read"])
    secret = key["secret"]
    assert (await api.client.get(f"{API}/prompts", headers=as_key(secret))).status_code == 200
    seen = await other.find(secret)
    assert seen is not None and seen.revoked_at is None

    assert (await api.client.delete(f"{API}/api-keys/{key['id']}")).status_code == 200
    after = await api.client.get(f"{API}/prompts", headers=as_key(secret))
    assert refused(after, 401, "unauthorized")["detail"] == "the API key was revoked"
    still = await other.find(secret)
    assert still is not None and still.revoked_at is None  # the other process's entry, 5 s
    now[0] = 5.0
    expired = await other.find(secret)
    assert expired is not None and expired.revoked_at is not None
    # Only found keys are kept: an unknown secret is asked again every time.
    assert await other.find("pwk_unknown") is None
