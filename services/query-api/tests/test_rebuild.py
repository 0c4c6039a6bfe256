"""Every read model can be rebuilt from the event topics, and equals the incremental one: every
read endpoint answers the same JSON (and the same counts, cursors and ETags) after a replay.

The replay is ``query-api rebuild`` (ADR 0023): into a new schema while the API serves and
the live projection runs, then an atomic switch. Readers see no error and no gap across it,
events that arrive meanwhile are in the switched models exactly once, cached statements read
the new tables, and query-api's own state (API keys, projects) is not touched."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from promptworks_contracts.events import RunCompleted, RunStarted
from promptworks_contracts.topics import RUN_EVENTS
from promptworks_eventkit.settings import KafkaSettings
from query_api.projections.result_documents import backfill
from query_api.read_schema import LIVE, NEXT, PREVIOUS
from query_api.rebuild.replay import rebuild, replay_kafka, roll_back
from query_api.rebuild.schemas import copy_structure
from query_api.settings import QueryApiSettings
from tests.support.kafka import envelope_for

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
    """What the API answers for every read: prompts, classes, tags, runs, results and quick
    tests."""
    paths = [f"{API}/test_prompt", *prompt_paths(world)]
    paths += [f"{API}/quick-tests", f"{API}/quick-tests/{catalog.quick_test.quick_test_id}"]
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


@contextlib.asynccontextmanager
async def connected(url: str) -> AsyncIterator[AsyncConnection]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            yield await connection.execution_options(isolation_level="AUTOCOMMIT")
    finally:
        await engine.dispose()


STRUCTURE = """
    SELECT t.relname, x.relname, regexp_replace(pg_get_indexdef(i.indexrelid), '^.* USING ', '')
    FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_class x ON x.oid = i.indexrelid
    WHERE t.relnamespace = to_regnamespace(:s)
    UNION ALL SELECT t.relname, c.conname, pg_get_constraintdef(c.oid)
    FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
    WHERE t.relnamespace = to_regnamespace(:s)
    UNION ALL SELECT table_name, column_name, concat_ws(' ', data_type, column_default, is_nullable)
    FROM information_schema.columns WHERE table_schema = :s
    UNION ALL SELECT relname, 'storage parameters', array_to_string(reloptions, ',')
    FROM pg_class WHERE relnamespace = to_regnamespace(:s) AND reloptions IS NOT NULL
    ORDER BY 1, 2, 3
"""


async def structure(connection: AsyncConnection, schema: str) -> list[Any]:
    """Tables, columns, keys, constraints, indexes and storage parameters of a schema, by
    name."""
    return [tuple(row) for row in await connection.execute(text(STRUCTURE), {"s": schema})]


async def waiting_for(connection: AsyncConnection, table: str) -> bool:
    """Whether a session waits for a lock on ``table``."""
    waiting = await connection.scalar(
        text(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = to_regclass(:t) "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"t": table},
    )
    return bool(waiting)


async def test_rebuild_switches_to_identical_models_while_serving(
    serve, settings, publisher, eventually, catalog_class, world_class, capfd
) -> None:
    catalog, world = catalog_class.build(), world_class.build()
    # The readers below read as fast as the replicas answer: no rate limit (tested elsewhere).
    settings = settings.model_copy(update={"rate_limit_per_minute": 0})
    url = settings.database_url.get_secret_value()
    late = catalog.early.model_copy(
        update={"run_id": uuid.uuid4(), "cases": [{}, {}], "total_calls": 2}
    )
    late_results = [
        result.model_copy(update={"run_id": late.run_id, "result_id": uuid.uuid4()})
        for result in catalog.results[:2]
    ]
    async with serve(settings) as api, serve(settings) as replica:
        await catalog.publish(publisher, api)
        await world.publish(publisher, api)
        # A record whose data is no ResultRecorded: dead-lettered live; in the rebuild, the
        # bulk path hands its batch to the live consumer's code, which dead-letters it again.
        poison = await publish_undecodable(settings)
        await eventually(lambda: _equal(dead_letters_of(url, poison), 1))
        before = await snapshot(api.client, catalog, world)
        stored = await documents(url)
        assert stored and all(row[1] is not None for row in stored)
        # Rendered from the event as it is inserted, or from the stored rows (evaluation
        # applied later, migration 0008's backfill): the same bytes.
        assert await rerendered(url) == stored
        key = (
            await api.client.post(f"{API}/api-keys", json={"name": "kept", "scopes": ["read"]})
        ).json()
        stable = [p for p in before if p.startswith(f"{API}/prompts/") or "/results" in p]

        failures: list[Any] = []
        reads = 0

        async def read_through_the_switch(client: Any) -> None:
            # Both replicas, their pools' connections and their cached statements.
            nonlocal reads
            while True:
                for path in stable:
                    response = await client.get(path)
                    reads += 1
                    if response.status_code != 200 or response.json() != before[path][0]:
                        failures.append((path, response.status_code, response.text[:300]))
                await asyncio.sleep(0.01)

        readers = [
            asyncio.create_task(read_through_the_switch(c)) for c in (api.client, replica.client)
        ]
        lines: list[str] = []
        async with connected(url) as test, connected(url) as holder:
            # Hold the rebuild back just before its switch (it drops the models an earlier
            # rebuild kept: a table of those is in use) to publish events the replay has not
            # read: the live models apply them, the switch must carry them over.
            pinned = f"{PREVIOUS}.pinned"
            await test.execute(text(f"CREATE SCHEMA {PREVIOUS}"))
            await test.execute(text(f"CREATE TABLE {pinned} (x int)"))
            await holder.execute(text("BEGIN"))
            await holder.execute(text(f"SELECT * FROM {pinned}"))
            # Spread over two processes (the prompts, the runs): the same models as one.
            rebuilding = asyncio.create_task(rebuild(settings, echo=lines.append, processes=2))
            await eventually(lambda: _true(waiting_for(test, pinned)), within=60.0)
            # Meanwhile an operator starts another rebuild: refused at once.
            second = asyncio.create_task(rebuild_command(settings))
            await publisher.publish([late, RunStarted(run_id=late.run_id), late_results[0]])
            await api.applied(late, 3)
            code, output = await second
            assert code == 1 and "another rebuild" in output, output
            await holder.execute(text("COMMIT"))
            report = await rebuilding
            # Table for table, the rebuilt models hold what the live ones do (the replay
            # stores evaluations before their results, without splicing them into documents,
            # and renders the prompt documents and the lexicon once, after its batches).
            for table in COMPARED:
                assert await rows(test, LIVE, table) == await rows(test, PREVIOUS, table), table
            # After the switch: the live projection goes on from the new models' offsets.
            finish = RunCompleted(run_id=late.run_id, status="completed", succeeded=2, failed=0)
            await publisher.publish([late_results[1], finish])
            await api.applied(late, 5)
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            assert failures == [] and reads > len(stable) * 2, (failures[:3], reads)
            assert report.events > 0 and any("switched" in line for line in lines), lines
            assert any("replaying in 2 processes" in line for line in lines), lines

            # The replaced models are kept, structure for structure the same as the new ones.
            assert await structure(test, LIVE) == await structure(test, PREVIOUS)
            assert ("results", "storage parameters", "fillfactor=50") in await structure(test, LIVE)
            assert await structure(test, LIVE) and not await schemas_named(test, NEXT)
            # Loaded UNLOGGED, made live logged (crash-safe, replicated).
            unlogged = await test.scalar(
                text(
                    "SELECT count(*) FROM pg_class WHERE relpersistence <> 'p' "
                    "AND relnamespace = to_regnamespace(:s)"
                ),
                {"s": LIVE},
            )
            assert unlogged == 0
            # Statements prepared before the switch read the new tables: change a row there
            # only; every pooled connection of both replicas answers it.
            demo = f"{API}/prompt-classes/{world.demo.class_id}"
            await test.execute(
                text(f"UPDATE {LIVE}.prompt_classes SET description = 'after' "
                     "WHERE class_id = :c"), {"c": world.demo.class_id},
            )  # fmt: skip
            for _ in range(3 * settings.db_pool_size):
                for client in (api.client, replica.client):
                    assert (await client.get(demo)).json()["description"] == "after"
            await test.execute(
                text(f"UPDATE {LIVE}.prompt_classes SET description = :d WHERE class_id = :c"),
                {"d": before[demo][0]["description"], "c": world.demo.class_id},
            )

        # The late run exactly once: two results, each once, its events each applied once.
        run = (await api.client.get(f"{API}/test_prompt/{late.run_id}")).json()
        assert run["status"] == "completed", run
        page = await api.client.get(f"{API}/test_prompt/{late.run_id}/results")
        assert page.headers["X-Total-Count"] == "2"
        ids = sorted(r["id"] for r in page.json())
        assert ids == sorted(str(r.result_id) for r in late_results)
        after = await snapshot(api.client, catalog, world)
        listed = after.pop(f"{API}/test_prompt")
        assert listed[1][0] == "5" and before.pop(f"{API}/test_prompt")[1][0] == "4"
        assert after == before
        # query-api's own state survived: the key made before the rebuild still works.
        mine = {"Authorization": f"Bearer {key['secret']}"}
        assert (await api.client.get(f"{API}/prompt-classes", headers=mine)).status_code == 200

        # Rolled back, the replaced models are live again; they lack what was applied after
        # the switch, and each replica seeks to their offsets to apply it (the fence).
        await roll_back(settings, echo=lines.append)

        async def caught_up() -> None:
            again = await api.client.get(f"{API}/test_prompt/{late.run_id}")
            assert again.json() == run
            assert await snapshot(api.client, catalog, world) == after | {
                f"{API}/test_prompt": listed
            }

        await eventually(caught_up)
        # A rebuild that fails once its schema exists (no broker where it looks) leaves the
        # live models and the kept ones as they were, and no schema of its own.
        served = await snapshot(api.client, catalog, world)
        unreachable = settings.kafka.model_copy(update={"bootstrap_servers": "127.0.0.1:9"})
        with pytest.raises(Exception):  # noqa: B017 - whatever the Kafka client raises
            await rebuild(settings.model_copy(update={"kafka": unreachable}), echo=lines.append)
        assert "untouched" in lines[-1], lines
        async with connected(url) as test:
            assert not await schemas_named(test, NEXT) and await schemas_named(test, PREVIOUS)
        assert await snapshot(api.client, catalog, world) == served
        output = capfd.readouterr().out
        assert "checkpoints moved" in output
        # The replay applied every batch the first time (no retry, no one-by-one); only the
        # poison record's batch left the bulk path, and it was dead-lettered once more.
        assert "batch failed" not in output
        assert output.count("bulk replay hands a batch") == 1, output
        assert await dead_letters_of(url, poison) == 2

    # Rendered from the final rows, whatever order the topics were applied in: the same bytes.
    rebuilt = {row[0]: row for row in await documents(url)}
    assert all(rebuilt[row[0]] == row for row in stored) and len(rebuilt) == len(stored) + 2
    # The rebuilt models carry the same counters, statuses and metrics, not just the same rows.
    assert len(before[f"{API}/test_prompt/{catalog.done.run_id}/results"][0]) == 4
    assert before[f"{API}/prompts?archived=all&sort=name"][1][0] == "7"
    greeting = before[f"{API}/prompts/{world.greeting.prompt_id}/history"][0]
    assert len(greeting) == 10 and greeting[-1]["summary"].startswith("renamed to greeting")


async def test_one_process_renders_the_catalogue_beside_the_runs(
    serve, settings, publisher, catalog_class, world_class
) -> None:
    """One process replays the prompt topic and the runs: the prompt documents, search tokens
    and the lexicon are rendered while the run topic is replayed (the prompt partitions paused
    meanwhile), on a connection of their own; the models equal the live ones row for row."""
    catalog, world = catalog_class.build(), world_class.build()
    async with serve(settings) as api:
        await catalog.publish(publisher, api)
        await world.publish(publisher, api)
        lines: list[str] = []
        report = await rebuild(settings, echo=lines.append, processes=1)
        assert report.events > 0 and any("beside the run topic" in line for line in lines), lines
        async with connected(settings.database_url.get_secret_value()) as test:
            for table in COMPARED:
                live, replaced = await rows(test, LIVE, table), await rows(test, PREVIOUS, table)
                assert live == replaced and (live or table == "quick_tests"), table


COMPARED = (
    "prompt_documents",
    "prompt_tokens",
    "prompt_words",
    "prompts",
    "prompt_history",
    "results",
    "metrics",
    "result_verdicts",
    "quick_tests",
)


async def rows(connection: AsyncConnection, schema: str, table: str) -> list[str]:
    """Every row of ``schema.table`` as JSON text, sorted: the same rows, byte for byte."""
    found = await connection.scalars(
        text(f"SELECT to_jsonb(t)::text AS row FROM {schema}.{table} t ORDER BY row")
    )
    rows = list(found)
    assert rows, f"{schema}.{table} is empty"
    return rows


async def _true(check: Any) -> None:
    assert await check


async def _equal(check: Any, expected: Any) -> None:
    assert await check == expected


async def publish_undecodable(settings: Any) -> str:
    """A record with a valid envelope (a ResultRecorded of a new run) and data that is no
    ResultRecorded; its event id."""
    event = RunStarted(run_id=uuid.uuid4())
    envelope = envelope_for(event, 1)
    headers = [
        (k, b"promptworks.run.result_recorded.v1" if k == "ce_type" else v)
        for k, v in envelope.to_kafka_headers()
    ]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.kafka.topic(RUN_EVENTS),
            key=envelope.subject.encode(),
            value=b'{"not": "a result"}',
            headers=headers,
        )
    finally:
        await producer.stop()
    return str(envelope.id)


async def dead_letters_of(url: str, event_id: str) -> int:
    async with connected(url) as connection:
        found = await connection.scalar(
            text("SELECT count(*) FROM public.dead_letters WHERE event_id = :e"), {"e": event_id}
        )
    return int(found or 0)


async def schemas_named(connection: AsyncConnection, name: str) -> bool:
    return bool(
        await connection.scalar(text("SELECT to_regnamespace(:s) IS NOT NULL"), {"s": name})
    )


async def rebuild_command(settings: Any) -> tuple[int, str]:
    """``query-api rebuild`` as an operator runs it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "query_api", "rebuild",
        env={**os.environ, "DATABASE_URL": settings.database_url.get_secret_value(),
             "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
             "KAFKA_TOPIC_PREFIX": settings.kafka.topic_prefix},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_the_new_models_keep_the_privileges_granted_on_the_live_ones(settings) -> None:
    """An operator's reporting role that may read the live models (the schema, one table with
    the grant option) may read the rebuilt ones; what PUBLIC got, PUBLIC keeps. (The copy is
    made in a transaction rolled back at the end, as a failed rebuild's would be.)"""
    url = settings.database_url.get_secret_value()
    role = f"reporting_{uuid.uuid4().hex[:8]}"
    copy = f"grants_{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(url)
    async with connected(url) as admin:
        await admin.execute(text(f"CREATE ROLE {role} NOLOGIN"))
        try:
            async with engine.connect() as connection, connection.begin() as transaction:
                for grant in (
                    f"GRANT USAGE ON SCHEMA {LIVE} TO {role}",
                    f"GRANT SELECT ON {LIVE}.runs TO {role} WITH GRANT OPTION",
                    f"GRANT SELECT ON {LIVE}.prompts TO PUBLIC",
                ):
                    await connection.execute(text(grant))
                await copy_structure(connection, LIVE, copy)
                granted = await connection.execute(
                    text(
                        "SELECT has_schema_privilege(:r, :s, 'USAGE'), "
                        "has_table_privilege(:r, :s || '.runs', 'SELECT WITH GRANT OPTION'), "
                        "has_table_privilege(:r, :s || '.results', 'SELECT'), "
                        "has_table_privilege('public', :s || '.prompts', 'SELECT')"
                    ),
                    {"r": role, "s": copy},
                )
                assert granted.one() == (True, True, False, True)
                await transaction.rollback()
        finally:
            await engine.dispose()
            await admin.execute(text(f"DROP ROLE {role}"))


def test_the_replay_fetches_in_bulk_and_the_live_consumer_does_not() -> None:
    # The live 4 MiB fetch held replay batches to ~5,000 of their 20,000 records (bench.rebuild
    # 35 % slower); the rebuild's own sizes apply to the replay only.
    settings = QueryApiSettings(
        kafka=KafkaSettings(fetch_max_bytes=4 * 2**20, max_partition_fetch_bytes=2**20),
        rebuild_fetch_max_bytes=48 * 2**20,
        rebuild_max_partition_fetch_bytes=12 * 2**20,
    )
    replay = replay_kafka(settings)
    assert (replay.fetch_max_bytes, replay.max_partition_fetch_bytes) == (48 * 2**20, 12 * 2**20)
    assert replay.bootstrap_servers == settings.kafka.bootstrap_servers
    assert (settings.kafka.fetch_max_bytes, settings.kafka.max_partition_fetch_bytes) == (
        4 * 2**20,
        2**20,
    )
