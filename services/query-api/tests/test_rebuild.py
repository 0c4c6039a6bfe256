"""Every read model can be rebuilt from the event topics, and equals the incremental one."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from promptworks_eventkit.tables import consumer_offsets, consumer_stream_positions
from query_api.projections import CONSUMER_NAME
from query_api.tables import READ_MODEL_TABLES

pytestmark = pytest.mark.integration


async def snapshot(client: Any, catalog: Any) -> dict[str, Any]:
    """What the API answers for every list and every run's results."""
    paths = ["/api/v1/prompts", "/api/v1/prompts?q=greting", "/api/v1/test_prompt"]
    for run in (catalog.done, catalog.failed, catalog.running, catalog.early):
        paths += [f"/api/v1/test_prompt/{run.run_id}", f"/api/v1/test_prompt/{run.run_id}/results"]
    taken: dict[str, Any] = {}
    for path in paths:
        response = await client.get(path)
        assert response.status_code == 200, (path, response.text)
        taken[path] = (response.json(), response.headers.get("X-Total-Count"))
    return taken


async def test_wiped_read_models_are_rebuilt_identically(
    serve, settings, publisher, eventually, catalog_class
) -> None:
    catalog = catalog_class.build()
    async with serve(settings) as api:
        await catalog.publish(publisher, api)
        before = await snapshot(api.client, catalog)

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
            assert await snapshot(api.client, catalog) == before

        await eventually(rebuilt)
    # The rebuilt models carry the same counters, statuses and metrics, not just the same rows.
    assert before["/api/v1/test_prompt"][1] == "4"
    assert len(before[f"/api/v1/test_prompt/{catalog.done.run_id}/results"][0]) == 4
