"""query-api's OpenAPI document: every forwarded prompt, class and tag body is the public API's
request model (the one prompt-service validates), and every error answer is the Problem."""

from __future__ import annotations

from typing import Any

from promptworks_contracts.api import prompts, taxonomy
from query_api.openapi_export import document

API = "/api/v1"
BODIES = {
    ("post", "/prompts"): prompts.CreatePromptRequest,
    ("post", "/prompts/{prompt_id}/versions"): prompts.CreateVersionRequest,
    ("patch", "/prompts/{prompt_id}"): prompts.EditPromptRequest,
    ("put", "/prompts/{prompt_id}"): prompts.UpdatePromptRequest,
    ("put", "/prompts/{prompt_id}/labels/{label}"): prompts.VersionTargetRequest,
    ("post", "/prompts/{prompt_id}/rollback"): prompts.VersionTargetRequest,
    ("post", "/prompts/{prompt_id}/archive"): prompts.MessageRequest,
    ("post", "/prompts/{prompt_id}/restore"): prompts.MessageRequest,
    ("delete", "/prompts/{prompt_id}"): prompts.MessageRequest,
    ("delete", "/prompts/{prompt_id}/labels/{label}"): prompts.MessageRequest,
    ("post", "/prompt-classes"): taxonomy.CreateClassRequest,
    ("patch", "/prompt-classes/{class_id}"): taxonomy.UpdateClassRequest,
    ("post", "/prompt-tags"): taxonomy.CreateTagRequest,
    ("patch", "/prompt-tags/{tag_id}"): taxonomy.UpdateTagRequest,
}


def _refs(schema: dict[str, Any]) -> set[str]:
    if "$ref" in schema:
        return {schema["$ref"].rsplit("/", 1)[1]}
    return {r for branch in schema.get("anyOf", []) for r in _refs(branch)}


def test_forwarded_bodies_are_the_public_request_models() -> None:
    doc = document()
    for (method, path), model in BODIES.items():
        body = doc["paths"][f"{API}{path}"][method]["requestBody"]
        schema = body["content"]["application/json"]["schema"]
        assert model.__name__ in _refs(schema), (method, path, schema)
        component = doc["components"]["schemas"][model.__name__]
        assert set(component["properties"]) == set(model.model_fields), model.__name__
        assert component.get("additionalProperties") is False  # unknown fields are refused


def test_every_error_answer_is_a_problem() -> None:
    doc = document()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
            assert {"422", "500"} <= set(errors), (method, path)
            for response in errors.values():
                assert response["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }
