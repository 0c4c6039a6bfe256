"""OpenAPI, docs and the operations endpoints."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


async def test_openapi_documents_the_public_api(api) -> None:
    response = await api.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/api/v1/prompts"]) == {"get", "post"}
    assert set(paths["/api/v1/test_prompt"]) == {"get", "post"}
    assert set(paths["/api/v1/prompts/{prompt_id}"]) == {"get", "put", "patch", "delete"}
    assert set(paths["/api/v1/prompts/{prompt_id}/labels/{label}"]) == {"put", "delete"}
    for action in ("versions", "rollback", "archive", "restore", "render"):
        assert "post" in paths[f"/api/v1/prompts/{{prompt_id}}/{action}"], action
    for read in ("versions/{number}", "diff", "history"):
        assert "get" in paths[f"/api/v1/prompts/{{prompt_id}}/{read}"], read
    for kind, key in (("prompt-classes", "class_id"), ("prompt-tags", "tag_id")):
        assert set(paths[f"/api/v1/{kind}"]) == {"get", "post"}
        assert set(paths[f"/api/v1/{kind}/{{{key}}}"]) == {"get", "patch", "delete"}
    listing = paths["/api/v1/prompts"]["get"]
    assert {"X-Total-Count", "X-Next-Cursor", "Link"} <= set(listing["responses"]["200"]["headers"])
    assert "get" in paths["/api/v1/test_prompt/{run_id}"]
    results = paths["/api/v1/test_prompt/{run_id}/results"]["get"]
    assert "X-Total-Count" in results["responses"]["200"]["headers"]
    statuses = paths["/api/v1/test_prompt"]["get"]["parameters"][0]["schema"]
    assert "queued" in str(statuses) and "completed" in str(statuses)
    docs = await api.client.get("/docs")
    assert docs.status_code == 200 and "/api/v1/openapi.json" in docs.text


async def test_health_readiness_and_metrics(api, eventually) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}

    async def ready() -> None:
        response = await api.client.get("/readyz")
        assert response.status_code == 200, response.text
        assert response.json()["checks"]["consumer:query-api.projections"] == "ok"

    await eventually(ready)
    metrics = await api.client.get("/metrics")
    assert "# TYPE promptworks_consumer_events_applied_total counter" in metrics.text
    # Requests are counted by route template, not by raw path.
    assert (
        'promptworks_http_requests_total{method="GET",route="/readyz",status="200"}' in metrics.text
    )
