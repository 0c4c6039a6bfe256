"""One paging scheme on every list: ``limit`` with ``offset`` or ``cursor``, ``X-Total-Count``,
and ``X-Next-Cursor`` + ``Link: rel=next`` while more rows follow. Followed to the end, the
cursors give every row once, in the order of ``offset`` paging."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.integration

API = "/api/v1"


async def walk(api: Any, path: str, **params: Any) -> tuple[list[Any], int, int]:
    """Every row of the list following X-Next-Cursor (and checking Link); pages, total."""
    rows: list[Any] = []
    pages = 0
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await api.client.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        rows += body["items"] if isinstance(body, dict) else body
        pages += 1
        total = int(response.headers["X-Total-Count"])
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            assert "Link" not in response.headers
            return rows, pages, total
        assert response.headers["Link"].endswith(f'cursor={cursor}>; rel="next"')
        assert "offset=" not in response.headers["Link"]
        assert response.headers["Link"].startswith(f"<{path}?")  # relative: proxy-proof


def ids(rows: list[dict[str, Any]]) -> list[Any]:
    return [r.get("id") or (r.get("case_index"), r.get("repetition")) for r in rows]


async def check_lists(api: Any, lists: list[tuple[str, dict[str, Any]]]) -> None:
    for path, params in lists:
        whole = await api.client.get(path, params=params)
        everything = whole.json()["items"] if path.endswith("tags") else whole.json()
        assert "X-Next-Cursor" not in whole.headers, path
        assert len(everything) >= 2, path  # else the walk below proves nothing
        rows, pages, total = await walk(api, path, limit=1, **params)
        assert ids(rows) == ids(everything) and total == len(everything), path
        assert pages == len(everything), path


async def test_catalog_lists_page_by_cursor(api, world) -> None:
    prompt_id = world.greeting.prompt_id
    await check_lists(
        api,
        [
            (f"{API}/prompt-classes", {}),
            (f"{API}/prompt-tags", {}),
            (f"{API}/prompts/{prompt_id}/versions", {}),
            (f"{API}/prompts/{prompt_id}/history", {}),
        ],
    )


async def test_run_lists_page_by_cursor(api, catalog) -> None:
    await check_lists(
        api,
        [
            (f"{API}/test_prompt", {}),
            (f"{API}/test_prompt", {"status": "completed"}),
            (f"{API}/test_prompt/{catalog.done.run_id}/results", {}),
        ],
    )


async def test_a_cursor_is_bound_to_its_list_and_filters(api, catalog) -> None:
    first = await api.client.get(f"{API}/test_prompt", params={"status": "completed", "limit": 1})
    cursor = first.headers["X-Next-Cursor"]
    same = await api.client.get(
        f"{API}/test_prompt", params={"status": "completed", "limit": 1, "cursor": cursor}
    )
    assert same.status_code == 200 and same.json()[0]["id"] != first.json()[0]["id"]
    for path, params in (
        (f"{API}/test_prompt", {"status": "failed"}),
        (f"{API}/prompt-classes", {}),
        (f"{API}/test_prompt", {"cursor": "not-a-cursor"}),
    ):
        refused = await api.client.get(path, params={"cursor": cursor, **params})
        assert refused.status_code == 422, (path, refused.text)
        assert refused.json()["errors"][0]["field"] == "cursor"
    both = await api.client.get(
        f"{API}/test_prompt", params={"status": "completed", "offset": 1, "cursor": cursor}
    )
    assert both.status_code == 422 and both.json()["errors"][0]["field"] == "offset"
