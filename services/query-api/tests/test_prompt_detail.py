"""One prompt: fetch by label (ETag, 304), versions, render preview, diff and history."""

from __future__ import annotations

import itertools
import uuid

import pytest

from promptworks_contracts.events import PromptLabelMoved, PromptTagUpdated

pytestmark = pytest.mark.integration

PROMPTS = "/api/v1/prompts"


async def test_fetch_by_label_is_cacheable(api, world, publisher) -> None:
    url = f"{PROMPTS}/{world.greeting.prompt_id}"
    response = await api.client.get(url, params={"label": "production"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resolved_version"]["number"] == 2
    assert body["resolved_version"]["template"]["kind"] == "chat"
    plain = (await api.client.get(url)).json()
    assert {k: v for k, v in body.items() if k != "resolved_version"} == plain
    etag = response.headers["ETag"]
    assert etag.startswith('"10.production.') and not etag.startswith("W/")
    assert response.headers["Cache-Control"] == "no-cache"

    cached = await api.client.get(
        url, params={"label": "production"}, headers={"If-None-Match": etag}
    )
    assert cached.status_code == 304 and cached.content == b""
    assert cached.headers["ETag"] == etag
    listed = await api.client.get(
        url, params={"label": "production"}, headers={"If-None-Match": f'"x", W/{etag}'}
    )
    assert listed.status_code == 304
    staging = await api.client.get(
        url, params={"label": "staging"}, headers={"If-None-Match": etag}
    )
    assert staging.status_code == 200 and staging.json()["resolved_version"]["number"] == 3
    latest = await api.client.get(url, params={"label": "latest"})
    assert latest.json()["resolved_version"]["number"] == 3

    # A tag's new colour changes the representation (not the prompt's stream): a new ETag.
    recolored = PromptTagUpdated(tag_id=world.email.tag_id, name="email", color="#FF0000")
    moved = PromptLabelMoved(
        prompt_id=world.greeting.prompt_id,
        label="production",
        version_id=world.greeting_versions[2].version_id,
        version_number=3,
        previous_version_number=2,
    )
    await publisher.publish([recolored])
    await api.applied(recolored, publisher.version(recolored))
    again = await api.client.get(
        url, params={"label": "production"}, headers={"If-None-Match": etag}
    )
    assert again.status_code == 200 and again.headers["ETag"] != etag
    assert again.json()["tags"][1]["color"] == "#FF0000"
    await publisher.publish([moved])
    await api.applied(moved, publisher.version(moved))
    after_move = await api.client.get(
        url, params={"label": "production"}, headers={"If-None-Match": again.headers["ETag"]}
    )
    assert after_move.status_code == 200
    assert after_move.json()["resolved_version"]["number"] == 3
    assert after_move.headers["ETag"].startswith('"11.production.')


async def test_fetch_by_label_refuses_unknown_labels_and_prompts(api, world) -> None:
    url = f"{PROMPTS}/{world.greeting.prompt_id}"
    unknown = await api.client.get(url, params={"label": "canary"})
    assert unknown.status_code == 404
    detail = unknown.json()["errors"][0]
    assert detail["field"] == "label" and detail["loc"] == ["query", "label"]
    assert "production, staging" in detail["msg"]
    malformed = await api.client.get(url, params={"label": "Not A Label"})
    assert malformed.status_code == 422 and malformed.json()["errors"][0]["field"] == "label"
    missing = await api.client.get(f"{PROMPTS}/{uuid.uuid4()}", params={"label": "production"})
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "prompt_id"


async def test_versions_list_and_one(api, world) -> None:
    url = f"{PROMPTS}/{world.greeting.prompt_id}/versions"
    response = await api.client.get(url)
    assert response.status_code == 200 and response.headers["X-Total-Count"] == "3"
    versions = response.json()
    assert [v["number"] for v in versions] == [3, 2, 1]
    assert versions[0]["variables_report"] == {
        "undeclared": ["greeting"],
        "unused": [],
        "error": None,
    }
    assert versions[0]["commit_message"] == "casual"
    page = await api.client.get(url, params={"limit": 1, "offset": 1})
    assert [v["number"] for v in page.json()] == [2]
    one = await api.client.get(f"{url}/2")
    assert one.status_code == 200 and one.json() == versions[1]
    assert one.json()["variables_report"]["unused"] == []  # tone is used by the system message
    missing = await api.client.get(f"{url}/9")
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "number"
    nobody = await api.client.get(f"{PROMPTS}/{uuid.uuid4()}/versions")
    assert nobody.status_code == 404 and nobody.json()["errors"][0]["field"] == "prompt_id"
    zero = await api.client.get(f"{url}/0")
    assert zero.status_code == 422 and zero.json()["errors"][0]["field"] == "number"


async def test_render_preview(api, world) -> None:
    url = f"{PROMPTS}/{world.greeting.prompt_id}/render"
    current = await api.client.post(url, json={"variables": {"name": "Ann", "x": 1}})
    assert current.status_code == 200, current.text
    assert current.json() == {
        "version_number": 2,
        "kind": "chat",
        "messages": [
            {"role": "system", "content": "Be ."},
            {"role": "user", "content": "Hi Ann"},
        ],
        "missing": ["tone"],
        "unused": ["x"],
    }
    v3 = await api.client.post(
        url, json={"label": "staging", "variables": {"name": "Ann", "greeting": "welcome"}}
    )
    assert v3.json()["text"] == "Hi Ann, welcome" and v3.json()["version_number"] == 3
    v1 = await api.client.post(url, json={"version": 1, "variables": {"name": "{{ x }}"}})
    assert v1.json()["text"] == "Hello {{ x }}"  # values are not templates

    translator = f"{PROMPTS}/{world.translator.prompt_id}/render"
    defaulted = await api.client.post(translator, json={"variables": {"text": "hi"}})
    assert defaulted.json()["text"] == "Translate hi to French"

    missing = await api.client.post(url, json={"version": 3, "variables": {}})
    assert missing.status_code == 422
    assert [d["field"] for d in missing.json()["errors"]] == [
        "variables.name",
        "variables.greeting",
    ]
    for body, status, field in (
        ({"version": 9}, 404, "version"),
        ({"label": "canary"}, 404, "label"),
        ({"version": 1, "label": "production"}, 422, "label"),
        ({"version": 0}, 422, "version"),
        ({"variables": []}, 422, "variables"),
    ):
        refused = await api.client.post(url, json=body)
        assert refused.status_code == status, (body, refused.text)
        assert refused.json()["errors"][0]["field"] == field, body
    nobody = await api.client.post(f"{PROMPTS}/{uuid.uuid4()}/render", json={})
    assert nobody.status_code == 404 and nobody.json()["errors"][0]["field"] == "prompt_id"


async def test_render_a_template_not_saved_yet(api) -> None:
    """The editor's live preview: what is typed, rendered by the same sandbox and limits."""
    url = "/api/v1/render"
    text = await api.client.post(
        url, json={"template": "Hi {{ name | upper }}", "variables": {"name": "ann", "x": 1}}
    )
    assert text.status_code == 200, text.text
    assert text.json() == {"kind": "text", "text": "Hi ANN", "missing": [], "unused": ["x"]}
    chat = await api.client.post(
        url,
        json={
            "messages": [
                {"role": "system", "content": "Be {{ tone }}."},
                {"role": "user", "content": "{{ q }}"},
            ],
            "variables": {"q": "why?"},
            "declared": [{"name": "tone", "required": False}, {"name": "q"}],
        },
    )
    assert chat.status_code == 200, chat.text
    assert chat.json()["messages"][0] == {"role": "system", "content": "Be ."}
    assert chat.json()["missing"] == ["tone"]

    blown_up = "{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}"
    for body, field, rule in (
        ({"template": "Hi {{ name "}, "template", "template_invalid"),
        (
            {"messages": [{"role": "user", "content": "ok"}, {"role": "user", "content": "{%"}]},
            "messages.1.content",
            "template_invalid",
        ),
        ({"template": "Hi {{ name }}"}, "variables.name", "missing"),
        ({"template": blown_up}, "template", "render_failed"),
        ({"template": "x" * 100_001}, "template", "string_too_long"),
        ({"variables": {}}, "template", "template_or_messages"),
    ):
        refused = await api.client.post(url, json=body)
        assert refused.status_code == 422, (field, refused.text)
        error = refused.json()["errors"][0]
        assert (error["field"], error["type"]) == (field, rule), refused.text
    assert "1000000" in (await api.client.post(url, json={"template": blown_up})).text


async def test_diff_between_versions(api, world) -> None:
    url = f"{PROMPTS}/{world.greeting.prompt_id}/diff"
    response = await api.client.get(url, params={"from": 1, "to": 3})
    assert response.status_code == 200, response.text
    diff = response.json()
    assert diff["from"] == 1 and diff["to"] == 3
    unified = diff["template"]["unified"]
    assert unified.startswith("--- version 1\n+++ version 3\n")
    assert "-Hello {{ name }}\n" in unified and "+Hi {{ name }}, {{ greeting }}\n" in unified
    assert diff["label"] == {"from": "v1", "to": "v3"}
    assert diff["default_model"] == {"from": None, "to": None, "changed": False}
    assert diff["variables"] == {"added": [], "removed": [], "changed": []}
    assert diff["commit_messages"] == [
        {"number": 2, "message": "chat form"},
        {"number": 3, "message": "casual"},
    ]

    to_chat = (await api.client.get(url, params={"from": 1, "to": 2})).json()
    assert "+[system]\n" in to_chat["template"]["unified"]
    assert to_chat["default_model"] == {
        "from": None,
        "to": {"provider": "mock", "name": "echo", "version": None},
        "changed": True,
    }
    assert to_chat["default_parameters"] == {
        "changed": {"temperature": {"from": None, "to": 0.2}, "top_p": {"from": None, "to": 1.0}}
    }
    assert to_chat["variables"]["added"] == [
        {"name": "tone", "type": "string", "required": False, "default": None, "choices": None}
    ]
    back = (await api.client.get(url, params={"from": 2, "to": 3})).json()
    assert back["variables"]["removed"][0]["name"] == "tone"
    reverse = (await api.client.get(url, params={"from": 3, "to": 1})).json()
    assert [m["number"] for m in reverse["commit_messages"]] == [3, 2]

    for params, field in (({"from": 9, "to": 1}, "from"), ({"from": 1, "to": 7}, "to")):
        missing = await api.client.get(url, params=params)
        assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == field
    bad = await api.client.get(url, params={"from": "one", "to": 2})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "from"


async def test_history_tells_who_did_what(api, world) -> None:
    url = f"{PROMPTS}/{world.greeting.prompt_id}/history"
    response = await api.client.get(url)
    assert response.status_code == 200 and response.headers["X-Total-Count"] == "10"
    history = response.json()
    assert [h["stream_version"] for h in history] == list(range(1, 11))
    assert [(h["type"], h["actor"], h["message"], h["summary"]) for h in history] == [
        ("created", "ann", "", "created greeter in class news"),
        ("version_created", "ann", "first", "created version 1 (v1)"),
        ("version_created", "ann", "chat form", "created version 2"),
        ("label_moved", "ann", "ship it", "set production to 1"),
        ("label_moved", "ann", "", "set staging to 2"),
        ("version_created", "dan", "casual", "created version 3 (v3)"),
        ("label_moved", "dan", "", "moved production from 1 to 2"),
        ("label_moved", "dan", "", "moved staging from 2 to 3"),
        ("current_version_set", "ann", "too casual", "rolled back from 3 to 2"),
        (
            "metadata_edited",
            "ann",
            "tidy up",
            "renamed to greeting; moved to class demo; tagged onboarding, email",
        ),
    ]
    assert all(a["at"] < b["at"] for a, b in itertools.pairwise(history))
    page = await api.client.get(url, params={"limit": 2, "offset": 8})
    assert [h["stream_version"] for h in page.json()] == [9, 10]
    old = (await api.client.get(f"{PROMPTS}/{world.translator.prompt_id}/history")).json()
    assert [h["summary"] for h in old][-2:] == ["archived", "restored"]
    assert old[-1]["message"] == "still used"
    nobody = await api.client.get(f"{PROMPTS}/{uuid.uuid4()}/history")
    assert nobody.status_code == 404
