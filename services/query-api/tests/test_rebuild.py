"""Every read model can be rebuilt from the event topics, and equals the incremental one: every
read endpoint answers the same JSON (and the same counts, cursors and ETags) after a replay."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from promptworks_eventkit.tables import consumer_offsets, consumer_stream_positions
from query_api.projections import CONSUMER_NAME
from query_api.projections.result_documents import backfill
from query_api.tables import READ_MODEL_TABLES

pytestmark = pytest.mark.integration


API = "/api/v1"
HEADERS = ("X-Total-Count", "X-Next-Cursor", "ETag")
LISTS = [
    "",
    "?q=greting",
    "?q=ann&archived=all",
    "?archived=all&sort=name",
    "?sort=-created_at&limit=2",
    "?tag=email&tag=onboarding",
    "?label=production&archived=all",
    "?class_name=demo",
]


def prompt_paths(world: Any) -> list[str]:
    """Every prompt read endpoint, for every prompt of the world."""
    paths = [f"{API}/prompts{query}" for query in LISTS]
    paths += [f"{API}/prompt-classes", f"{API}/prompt-tags"]
    paths += [f"{API}/prompt-classes/{c.class_id}" for c in (world.demo, world.news)]
    paths += [f"{API}/prompt-tags/{t.tag_id}" for t in (world.email, world.legacy)]
    for prompt in world.prompts:
        url = f"{API}/prompts/{prompt.prompt_id}"
        paths += [url, f"{url}?label=latest", f"{url}/versions", f"{url}/versions/1"]
        paths += [f"{url}/history", f"{url}/diff?from=1&to=1"]
    greeting = f"{API}/prompts/{world.greeting.prompt_id}"
    paths += [f"{greeting}?label=production", f"{greeting}/diff?from=3&to=1"]
    return paths


async def snapshot(client: Any, catalog: Any, world: Any) -> dict[str, Any]:
    """What the API answers for every read: prompts, classes, tags, runs and results."""
    paths = [f"{API}/test_prompt", *prompt_paths(world)]
    for run in (catalog.done, catalog.failed, catalog.running, catalog.early):
        results = f"{API}/test_prompt/{run.run_id}/results"
        paths += [f"{API}/test_prompt/{run.run_id}", results, f"{results}?passed=false"]
        paths += [f"{results}?limit=2&offset=1"]  # by position (finished runs)
    taken: dict[str, Any] = {}
    for path in paths:
        response = await client.get(path)
        assert response.status_code == 200, (path, response.text)
        taken[path] = (response.json(), [response.headers.get(h) for h in HEADERS])
    cursor = taken[f"{API}/prompts?sort=-created_at&limit=2"][1][1]
    assert cursor is not None
    next_page = await client.get(f"{API}/prompts?sort=-created_at&limit=2&cursor={cursor}")
    taken["next page"] = next_page.json()
    render = await client.post(
        f"{API}/prompts/{world.greeting.prompt_id}/render", json={"variables": {"name": "A"}}
    )
    taken["render"] = render.json()
    export = await client.get(f"{API}/test_prompt/{catalog.done.run_id}/results/export")
    taken["export"] = export.text  # the stored documents, byte for byte
    return taken


async def documents(url: str) -> list[Any]:
    """Every stored result document with its filter columns."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT result_id, document, ok, failed_checks FROM results ORDER BY 1")
            )
            return [tuple(row) for row in rows]
    finally:
        await engine.dispose()


async def rerendered(url: str) -> list[Any]:
    """The documents rendered again from the rows alone (what migration 0008 does)."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("UPDATE results SET document = NULL"))
            assert await connection.run_sync(backfill) > 0
    finally:
        await engine.dispose()
    return await documents(url)


async def test_wiped_read_models_are_rebuilt_identically(
    serve, settings, publisher, eventually, catalog_class, world_class, capfd
) -> None:
    catalog, world = catalog_class.build(), world_class.build()
    async with serve(settings) as api:
        await catalog.publish(publisher, api)
        await world.publish(publisher, api)
        before = await snapshot(api.client, catalog, world)
    stored = await documents(settings.database_url.get_secret_value())
    assert stored and all(row[1] is not None for row in stored)
    # Rendered from the event as it is inserted, or from the stored rows (evaluation applied
    # later, migration 0008's backfill): the same bytes.
    assert await rerendered(settings.database_url.get_secret_value()) == stored

    engine = create_async_engine(settings.database_url.get_secret_value())
    try:
        async with engine.begin() as connection:
            names = ", ".join(table.name for table in READ_MODEL_TABLES)
            await connection.execute(text(f"TRUNCATE {names}"))
            for checkpoints in (consumer_offsets, consumer_stream_positions):
                wiped = await connection.execute(
                    delete(checkpoints).where(checkpoints.c.consumer == CONSUMER_NAME)
                )
                assert wiped.rowcount > 0
        async with engine.connect() as connection:
            assert await connection.scalar(select(func.count()).select_from(text("runs"))) == 0
    finally:
        await engine.dispose()

    async with serve(settings) as api:

        async def rebuilt() -> None:
            assert await snapshot(api.client, catalog, world) == before

        await eventually(rebuilt)
    # Rendered from the final rows, whatever order the topics were applied in: the same bytes.
    assert await documents(settings.database_url.get_secret_value()) == stored
    # The replay applied every batch in bulk the first time (no retry, no one-by-one fallback).
    assert "batch failed" not in capfd.readouterr().out
    # The rebuilt models carry the same counters, statuses and metrics, not just the same rows.
    assert before[f"{API}/test_prompt"][1][0] == "4"
    assert len(before[f"{API}/test_prompt/{catalog.done.run_id}/results"][0]) == 4
    assert before[f"{API}/prompts?archived=all&sort=name"][1][0] == "7"
    greeting = before[f"{API}/prompts/{world.greeting.prompt_id}/history"][0]
    assert len(greeting) == 10 and greeting[-1]["summary"].startswith("renamed to greeting")
