"""The public paths as a browser calls them: collections with a trailing slash (the original
API declared them so) are served directly, never redirected, reads and forwarded writes alike;
unknown routes and wrong methods answer in the one problem shape."""

from __future__ import annotations

import pytest

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
