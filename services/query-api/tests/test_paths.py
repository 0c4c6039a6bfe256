"""The public paths as a browser calls them: collections with a trailing slash (the original
API declared them so) are served directly, never redirected, reads and forwarded writes alike;
unknown routes and wrong methods answer in the one problem shape."""

from __future__ import annotations

import pytest

from query_api.settings import QueryApiSettings

pytestmark = pytest.mark.integration

API = "/api/v1"
COLLECTIONS = ("/prompts", "/prompt-classes", "/prompt-tags", "/test_prompt")


async def test_collections_with_a_trailing_slash_are_served_not_redirected(
    serve, settings, prompt_service
) -> None:
    settings = settings.model_copy(update={"prompt_service_url": prompt_service})
    async with serve(settings) as api:
        body = {"name": "slashed", "class_name": "demo", "content": "Hi {{ name }}"}
        created = await api.client.post(f"{API}/prompts/", json=body)
        assert created.status_code == 201, created.text
        prompt_id = created.json()["id"]
        tag = await api.client.post(f"{API}/prompt-tags/", json={"name": "t", "color": "#112233"})
        assert tag.status_code == 201, tag.text
        for collection in COLLECTIONS:
            plain = await api.client.get(f"{API}{collection}")
            slashed = await api.client.get(f"{API}{collection}/")
            assert slashed.status_code == 200, (collection, slashed.status_code)
            assert "location" not in slashed.headers
            assert slashed.json() == plain.json()
        one = await api.client.get(f"{API}/prompts/{prompt_id}/")
        assert one.status_code == 200 and one.json()["name"] == "slashed"


async def test_unknown_routes_and_wrong_methods_are_problems(api) -> None:
    unknown = await api.client.get(f"{API}/nothing-here")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["type"] == "urn:promptworks:problem:not-found"
    wrong = await api.client.delete(f"{API}/prompts")
    assert wrong.status_code == 405 and "GET" in wrong.headers["allow"]
    assert wrong.json()["type"] == "urn:promptworks:problem:method-not-allowed"


ORIGIN = "http://localhost:5173"


def test_cors_origins_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", f'["{ORIGIN}"]')
    assert QueryApiSettings().cors_allow_origins == [ORIGIN]


async def test_a_browser_on_an_allowed_origin_may_call_and_read_the_headers(
    serve, settings
) -> None:
    settings = settings.model_copy(update={"cors_allow_origins": [ORIGIN]})
    async with serve(settings) as api:
        preflight = await api.client.options(
            f"{API}/prompts/",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type, if-match, x-actor",
            },
        )
        assert preflight.status_code == 200, preflight.text
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        assert "POST" in preflight.headers["access-control-allow-methods"]
        listed = await api.client.get(f"{API}/prompts", headers={"Origin": ORIGIN})
        assert listed.headers["access-control-allow-origin"] == ORIGIN
        exposed = listed.headers["access-control-expose-headers"]
        assert "X-Total-Count" in exposed and "X-Next-Cursor" in exposed
        missing = await api.client.get(f"{API}/nothing", headers={"Origin": ORIGIN})
        assert missing.status_code == 404  # errors are readable cross-origin too
        assert missing.headers["access-control-allow-origin"] == ORIGIN
        other = await api.client.get(f"{API}/prompts", headers={"Origin": "http://evil.test"})
        assert "access-control-allow-origin" not in other.headers
