"""Prompt management writes through query-api into the REAL prompt-service (uvicorn, loopback),
each answered with query-api's own projection once it applied every stream the command wrote."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration

API = "/api/v1"
ANN = {"X-Actor": "ann"}


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def test_a_prompts_whole_life_through_query_api(serve, settings, prompt_service) -> None:
    settings = settings.model_copy(update={"prompt_service_url": prompt_service})
    async with serve(settings) as api:
        client = api.client
        tag = await ok(
            await client.post(f"{API}/prompt-tags", json={"name": "faq", "color": "#12AB34"}), 201
        )
        created = await client.post(
            f"{API}/prompts",
            json={
                "name": "answer",
                "author": "ann",
                "class_name": "support",  # a new class: created in the same command
                "tags": ["faq"],
                "version": "v1",
                "content": "Answer {{ question }}",
                "variables": [{"name": "question"}],
                "commit_message": "first",
            },
            headers={**ANN, "X-Correlation-ID": "req-7"},
        )
        prompt = await ok(created, 201)
        # Both streams (class and prompt) were waited for: the class name is there at once.
        assert prompt["class"]["name"] == "support"
        assert prompt["tags"] == [{"id": tag["id"], "name": "faq", "color": "#12AB34"}]
        assert created.headers["Location"] == f"{API}/prompts/{prompt['id']}"
        assert created.headers["ETag"] == f'"{prompt["stream_version"]}"'
        assert created.headers["X-Correlation-ID"] == "req-7"
        url = f"{API}/prompts/{prompt['id']}"

        stale = {"If-Match": '"99"', **ANN}
        conflict = await client.post(f"{url}/versions", json={"content": "x"}, headers=stale)
        assert conflict.status_code == 409
        assert conflict.json()["current_version"] == prompt["stream_version"]
        fresh = {"If-Match": f'"{prompt["stream_version"]}"', "X-Actor": "bob"}
        v2 = await client.post(
            f"{url}/versions",
            json={"version": "v2", "content": "Answer briefly: {{ question }}"},
            headers=fresh,
        )
        assert (await ok(v2, 201))["current_version"]["number"] == 2

        labelled = await ok(
            await client.put(f"{url}/labels/production", json={"version_number": 2}, headers=ANN)
        )
        assert labelled["labels"] == {"production": 2, "latest": 2}
        by_label = await client.get(url, params={"label": "production"})
        assert by_label.json()["resolved_version"]["number"] == 2
        missing = await client.put(f"{url}/labels/production", json={"version_number": 7})
        assert missing.status_code == 422
        assert missing.json()["errors"][0]["field"] == "version_number"

        edited = await ok(
            await client.patch(url, json={"name": "answer faq", "tags": []}, headers=ANN)
        )
        assert edited["name"] == "answer faq" and edited["tags"] == []
        rolled = await ok(await client.post(f"{url}/rollback", json={"version_number": 1}))
        assert rolled["current_version"]["number"] == 1
        unlabelled = await ok(await client.delete(f"{url}/labels/production"))
        assert "production" not in unlabelled["labels"]
        unknown = await client.delete(f"{url}/labels/production")
        assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "label"

        combined = await ok(
            await client.put(url, json={"description": "FAQ", "version": "v3", "content": "A"})
        )
        assert combined["description"] == "FAQ" and combined["current_version"]["number"] == 3

        archived = await ok(await client.post(f"{url}/archive", json={"message": "old"}))
        assert archived["archived"] is True
        assert (await client.get(f"{API}/prompts")).json() == []
        again = await client.post(f"{url}/archive", json={})
        assert again.status_code == 409
        restored = await ok(await client.post(f"{url}/restore", json={}))
        assert restored["archived"] is False
        deleted = await ok(await client.delete(url))  # the original API's delete = archive
        assert deleted["archived"] is True

        history = await ok(await client.get(f"{url}/history"))
        assert [h["stream_version"] for h in history] == list(range(1, len(history) + 1))
        assert history[0]["actor"] == "ann" and history[2]["actor"] == "bob"
        assert history[-1]["summary"] == "archived"


async def test_classes_and_tags_through_query_api(serve, settings, prompt_service) -> None:
    settings = settings.model_copy(update={"prompt_service_url": prompt_service})
    async with serve(settings) as api:
        client = api.client
        created = await client.post(f"{API}/prompt-classes", json={"name": "sales"}, headers=ANN)
        sales = await ok(created, 201)
        assert sales["prompt_count"] == 0 and sales["stream_version"] == 1
        assert created.headers["Location"] == f"{API}/prompt-classes/{sales['id']}"
        duplicate = await client.post(f"{API}/prompt-classes", json={"name": "sales"})
        assert duplicate.status_code == 409
        tag = await ok(
            await client.post(f"{API}/prompt-tags", json={"name": "hot", "color": "#FF0000"}), 201
        )
        bad_colour = await client.post(f"{API}/prompt-tags", json={"name": "x", "color": "red"})
        assert bad_colour.status_code == 422 and bad_colour.json()["errors"][0]["field"] == "color"

        prompt = await ok(
            await client.post(
                f"{API}/prompts",
                json={
                    "name": "pitch",
                    "class_id": sales["id"],
                    "tag_ids": [tag["id"]],
                    "content": "x",
                },
            ),
            201,
        )
        renamed = await ok(
            await client.patch(
                f"{API}/prompt-classes/{sales['id']}",
                json={"name": "sales emea"},
                headers={"If-Match": '"1"'},
            )
        )
        assert renamed["name"] == "sales emea" and renamed["prompt_count"] == 1
        recolored = await ok(
            await client.patch(f"{API}/prompt-tags/{tag['id']}", json={"color": "#00FF00"})
        )
        assert recolored["color"] == "#00FF00" and recolored["prompt_count"] == 1
        shown = (await client.get(f"{API}/prompts/{prompt['id']}")).json()
        assert shown["class"]["name"] == "sales emea" and shown["tags"][0]["color"] == "#00FF00"

        in_use = await client.delete(f"{API}/prompt-classes/{sales['id']}")
        assert in_use.status_code == 409
        detached = await client.delete(f"{API}/prompt-classes/{sales['id']}?detach=true")
        assert detached.status_code == 204 and detached.content == b""
        untagged = await client.delete(f"{API}/prompt-tags/{tag['id']}", params={"detach": "true"})
        assert untagged.status_code == 204
        # Every stream the deletes wrote (the prompt's edits included) was applied first.
        shown = (await client.get(f"{API}/prompts/{prompt['id']}")).json()
        assert shown["class"] is None and shown["tags"] == []
        assert (await client.get(f"{API}/prompt-classes")).json() == []
        assert (await client.get(f"{API}/prompt-tags")).json()["items"] == []
        gone = await client.get(f"{API}/prompt-classes/{sales['id']}")
        assert gone.status_code == 404
