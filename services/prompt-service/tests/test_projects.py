"""Projects in prompt-service (ADR 0017): the project query-api forwards in ``X-Project`` is
stamped on the events (envelope and creation payloads), names are unique per project, and a
prompt, class or tag of another project is "not found", never changed or referenced."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.integration

IN_B = {"X-Project": "b"}


async def test_the_project_scopes_names_ids_and_events(service: Any) -> None:
    client = service.client
    body = {"name": "greeting", "class_name": "support", "content": "Hi"}
    in_default = await client.post("/prompts", json=body)
    assert in_default.status_code == 201, in_default.text
    in_b = await client.post("/prompts", json=body, headers=IN_B)
    assert in_b.status_code == 201, in_b.text  # the same name and class name: other project
    clash = await client.post("/prompts", json=body, headers=IN_B)
    assert clash.status_code == 409, clash.text
    tag = await client.post("/prompt-tags", json={"name": "faq", "color": "#FF0000"}, headers=IN_B)
    assert tag.status_code == 201, tag.text

    records = await service.published(7)
    for record in records:
        expected = "b" if record.key in (in_b.json()["prompt_id"], in_b.json()["class_id"],
                                         tag.json()["tag_id"]) else "default"  # fmt: skip
        assert record.envelope.project == expected, record.envelope
        if record.envelope.type.endswith(".created.v1"):
            assert record.data["project_id"] == expected

    prompt_b, class_b, tag_b = (
        in_b.json()["prompt_id"], in_b.json()["class_id"], tag.json()["tag_id"],
    )  # fmt: skip
    # From the default project, b's ids do not exist.
    edit = await client.patch(f"/prompts/{prompt_b}", json={"description": "x"})
    assert edit.status_code == 404, edit.text
    renamed = await client.patch(f"/prompt-classes/{class_b}", json={"name": "mine"})
    assert renamed.status_code == 404, renamed.text
    deleted = await client.delete(f"/prompt-tags/{tag_b}")
    assert deleted.status_code == 404, deleted.text
    refs: list[tuple[dict[str, Any], str]] = [
        ({"class_id": class_b}, "class_id"),
        ({"tag_ids": [tag_b]}, "tag_ids.0"),
        ({"tags": ["faq"]}, "tags.0"),
    ]
    for ref, field in refs:
        theft = await client.post("/prompts", json={"name": "t", "content": "x", **ref})
        assert theft.status_code == 422, theft.text
        assert theft.json()["errors"][0]["field"] == field
    # In b they do.
    own = await client.patch(f"/prompts/{prompt_b}", json={"description": "x"}, headers=IN_B)
    assert own.status_code == 200, own.text
    bad = await client.post("/prompts", json=body, headers={"X-Project": "Not a slug"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "X-Project"
