"""Migration 0002 takes a database in the 0001 shape to the prompt-management read models and
makes the projection replay the prompt topic (and only it) into them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from query_api.tables import READ_MODEL_TABLES
from tests.support.infra import alembic

pytestmark = pytest.mark.integration

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "alembic.ini"


async def columns(connection: AsyncConnection, table: str) -> set[str]:
    rows = await connection.execute(
        text("SELECT column_name FROM information_schema.columns WHERE table_name = :t"),
        {"t": table},
    )
    return {row[0] for row in rows}


CHECKPOINTS = """
    INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) VALUES
      ('query-api.projections', 'promptworks.prompt', 0, 10),
      ('query-api.projections', 'promptworks.run', 0, 20);
    INSERT INTO consumer_stream_positions (consumer, topic, stream_id, version) VALUES
      ('query-api.projections', 'promptworks.prompt', 'p1', 2),
      ('query-api.projections', 'promptworks.run', 'r1', 3)
"""


async def test_0002_reshapes_the_prompt_models_and_replays_the_prompt_topic(database) -> None:
    url = await database("query-api")
    await alembic(ALEMBIC_INI, url, "downgrade", "0001")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            assert {"class_name", "tags"} <= await columns(connection, "prompts")
            assert await columns(connection, "prompt_labels") == set()
            for statement in CHECKPOINTS.split(";"):
                await connection.execute(text(statement))
        await alembic(ALEMBIC_INI, url, "upgrade", "0002")
        async with engine.connect() as connection:
            shape = await columns(connection, "prompts")
            assert {"class_id", "tag_ids", "labels", "archived"} <= shape
            assert "class_name" not in shape
            assert "variables_report" in await columns(connection, "prompt_versions")
            assert await columns(connection, "prompt_history")
            left = await connection.execute(
                text("SELECT topic FROM consumer_offsets UNION ALL SELECT topic || '/' || stream_id"
                     " FROM consumer_stream_positions ORDER BY 1")
            )  # fmt: skip
            assert [row[0] for row in left] == ["promptworks.run", "promptworks.run/r1"]
    finally:
        await engine.dispose()


async def test_0003_adds_cost_and_batches_and_replays_the_run_topics(database) -> None:
    url = await database("query-api")
    await alembic(ALEMBIC_INI, url, "downgrade", "0002")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            assert "cost" not in await columns(connection, "runs")
            assert await columns(connection, "batches") == set()
            for statement in CHECKPOINTS.split(";"):
                await connection.execute(text(statement))
            await connection.execute(
                text(
                    "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) VALUES"
                    " ('query-api.projections', 'promptworks.evaluation', 0, 5)"
                )
            )
        await alembic(ALEMBIC_INI, url, "upgrade", "head")
        async with engine.connect() as connection:
            assert {"cost", "currency", "label", "retry_of", "cancelled_by"} <= await columns(
                connection, "runs"
            )
            assert {"cost", "cached"} <= await columns(connection, "results")
            assert {"batch_id", "cells"} <= await columns(connection, "batches")
            left = await connection.execute(
                text("SELECT topic FROM consumer_offsets UNION ALL SELECT topic || '/' || stream_id"
                     " FROM consumer_stream_positions ORDER BY 1")
            )  # fmt: skip
            # The run and evaluation topics replay into the new shape; the prompt topic stays.
            assert [row[0] for row in left] == ["promptworks.prompt", "promptworks.prompt/p1"]
    finally:
        await engine.dispose()


RUN_ROWS = """
    INSERT INTO runs (run_id, prompt_id, prompt_version_id, prompt_version_number, provider,
      model_name, parameters, repetitions, case_count, assertions, total_calls, recorded,
      succeeded, failed, status, created_at, stream_version, currency, cost)
    VALUES ('00000000-0000-0000-0000-0000000000a1', gen_random_uuid(), gen_random_uuid(), 1,
      'mock', 'echo', '{}', 1, 2, '[]', 2, 2, 1, 1, 'completed', now(), 5, 'USD', 0.0025);
    INSERT INTO results (result_id, run_id, case_index, repetition, output, latency_ms,
      prompt_tokens, completion_tokens, total_tokens, finish_reason, error, created_at, cost)
    VALUES
      ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-0000000000a1', 0, 1,
       'Hello Ann', 12.5, 3, 4, 7, 'stop', NULL, '2026-11-01T10:00:00.123456Z', 0.00125),
      ('00000000-0000-0000-0000-0000000000b2', '00000000-0000-0000-0000-0000000000a1', 1, 1,
       NULL, 3.0, 0, 0, 0, NULL, 'timeout', '2026-11-01T10:00:01Z', NULL);
    INSERT INTO metrics (result_id, name, value, passed, detail) VALUES
      ('00000000-0000-0000-0000-0000000000b1', 'polite', NULL, false, 'no please'),
      ('00000000-0000-0000-0000-0000000000b1', 'greets', NULL, true, NULL);
    INSERT INTO result_verdicts (result_id, passed, score) VALUES
      ('00000000-0000-0000-0000-0000000000b1', false, 0.5)
"""


async def test_0008_renders_the_documents_of_existing_results(database) -> None:
    url = await database("query-api")
    await alembic(ALEMBIC_INI, url, "downgrade", "0006")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            assert "document" not in await columns(connection, "results")
            for statement in RUN_ROWS.split(";"):
                await connection.execute(text(statement))
        await alembic(ALEMBIC_INI, url, "upgrade", "head")
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    text("SELECT document, ok, failed_checks FROM results ORDER BY case_index")
                )
            ).all()
            numbered = (
                await connection.execute(
                    text("SELECT position, result_id::text FROM result_positions ORDER BY 1")
                )
            ).all()
            indexes = await connection.scalars(
                text("SELECT indexname FROM pg_indexes WHERE tablename = 'results'")
            )
            assert {
                "ix_results_run_ok",
                "ix_results_failed_checks",
                "ix_results_created_at",
            } <= set(indexes)
    finally:
        await engine.dispose()
    (greeted, ok, failed), (timed_out, ok_2, failed_2) = rows
    # The finished run's results are numbered for paging.
    assert [tuple(row) for row in numbered] == [
        (0, "00000000-0000-0000-0000-0000000000b1"),
        (1, "00000000-0000-0000-0000-0000000000b2"),
    ]
    assert (ok, failed, ok_2, failed_2) == (False, ["polite"], False, [])
    # Compact JSON, exactly as the API answers it: metrics in name order, money canonical.
    assert greeted.startswith('{"id":"00000000-0000-0000-0000-0000000000b1","run_id":')
    document = json.loads(greeted)
    assert document["metrics"] == [
        {"name": "greets", "value": None, "passed": True, "detail": None},
        {"name": "polite", "value": None, "passed": False, "detail": "no please"},
    ]
    assert document["cost"] == {"amount": "0.00125", "currency": "USD"}
    assert document["created_at"] == "2026-11-01T10:00:00.123456Z"
    assert (document["passed"], document["score"], document["tokens_used"]) == (False, 0.5, 7)
    assert json.loads(timed_out)["error"] == "timeout"
    assert json.loads(timed_out)["metrics"] == [] and json.loads(timed_out)["passed"] is None


async def test_0011_puts_the_read_models_in_their_schema_reachable_by_the_previous_release(
    database,
) -> None:
    """Own state stays in public; the read models and their checkpoints move to read_models,
    each with a view in public through which the previous release's connections (search path
    public) keep reading and projecting, upserts included."""
    url = await database("query-api")
    previous = create_async_engine(url, connect_args={"server_settings": {"search_path": "public"}})
    try:
        async with previous.begin() as connection:
            rows = await connection.execute(
                text("SELECT table_schema, table_name, table_type FROM information_schema.tables "
                     "WHERE table_schema IN ('public', 'read_models')")
            )  # fmt: skip
            kinds = {(schema, name): kind for schema, name, kind in rows}
            own = {n for (s, n), k in kinds.items() if s == "public" and k == "BASE TABLE"}
            assert own == {"alembic_version", "api_keys", "dead_letters", "projects"}
            moved = [*(t.name for t in READ_MODEL_TABLES), "consumer_offsets"]
            for name in moved:
                assert kinds[("read_models", name)] == "BASE TABLE", name
                assert kinds[("public", name)] == "VIEW", name
            upsert = text(
                "INSERT INTO prompt_counts (project_id, partition, prompts, active) "
                "VALUES ('default', 3, 1, 1) ON CONFLICT (project_id, partition) "
                "DO UPDATE SET prompts = prompt_counts.prompts + excluded.prompts"
            )
            await connection.execute(upsert)
            await connection.execute(upsert)
            stored = await connection.scalar(
                text("SELECT prompts FROM read_models.prompt_counts WHERE partition = 3")
            )
            assert stored == 2
    finally:
        await previous.dispose()


async def test_a_database_the_previous_release_migrated_upgrades_to_head(database) -> None:
    """A database at 0009 made by the release before 0011 has none of the read models later
    migrations add (``advice``): 0011 moves what exists, 0013 creates the rest."""
    url = await database("query-api")
    await alembic(ALEMBIC_INI, url, "downgrade", "0009")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            # 0013's downgrade keeps its table and column; the previous release never had them.
            await connection.execute(text("DROP TABLE advice"))
            await connection.execute(text("ALTER TABLE prompt_versions DROP COLUMN origin"))
        await alembic(ALEMBIC_INI, url, "upgrade", "head")
        async with engine.connect() as connection:
            schema = await connection.scalar(
                text(
                    "SELECT table_schema FROM information_schema.tables WHERE table_name = 'advice'"
                )
            )
            assert schema == "read_models"
            assert "origin" in await columns(connection, "prompt_versions")
    finally:
        await engine.dispose()


async def test_0022_makes_the_search_tokens_of_existing_prompts(database) -> None:
    """Prompts already in the read model get their tokens on the upgrade (no replay), and a
    table a downgrade kept is made again whole (a stale token goes)."""
    url = await database("query-api")
    await alembic(ALEMBIC_INI, url, "downgrade", "0021")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO prompts (prompt_id, name, description, author, class_id, tag_ids,"
                    " labels, archived, version_count, created_at, updated_at, stream_version)"
                    " VALUES ('00000000-0000-0000-0000-0000000000a1', 'Code Review', '', 'ann',"
                    " '00000000-0000-0000-0000-0000000000c1', '{}', '{}', false, 0, now(),"
                    " '2026-11-01T10:00:00Z', 1),"
                    " ('00000000-0000-0000-0000-0000000000a2', 'review', '', 'bob lee', NULL,"
                    " '{}', '{}', true, 0, now(), '2026-11-02T10:00:00Z', 1)"
                )
            )
            # Kept by 0022's downgrade, then left behind by a release that does not keep it.
            await connection.execute(
                text(
                    "INSERT INTO prompt_tokens VALUES ('00000000-0000-0000-0000-0000000000a1',"
                    " 'stale', 'default', false, false, 5, now())"
                )
            )
        await alembic(ALEMBIC_INI, url, "upgrade", "head")
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    text(
                        "SELECT right(prompt_id::text, 2), token, archived, name_is_token,"
                        " name_length, updated_at::date::text FROM prompt_tokens"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    assert sorted(tuple(row) for row in rows) == [
        ("a1", "ann", False, False, 11, "2026-11-01"),
        ("a1", "c:00000000-0000-0000-0000-0000000000c1", False, False, 11, "2026-11-01"),
        ("a1", "code", False, False, 11, "2026-11-01"),
        ("a1", "review", False, False, 11, "2026-11-01"),
        ("a2", "bob", True, False, 6, "2026-11-02"),
        ("a2", "lee", True, False, 6, "2026-11-02"),
        ("a2", "review", True, True, 6, "2026-11-02"),
    ]
