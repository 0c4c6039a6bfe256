"""Real PostgreSQL and Kafka for tests, from one of two back ends chosen at start-up:

- ``local``: ``KAFKA_BOOTSTRAP_SERVERS`` and ``DATABASE_URL_BASE`` (a server URL without the
  database name, e.g. ``postgresql+asyncpg://u:p@127.0.0.1:5432``) point the tests at existing
  servers; without them, ``deploy/local/infra.sh up`` starts a throwaway stack on test ports.
- ``testcontainers``: containers started for the session (``containers``), on a Docker engine.

``PROMPTWORKS_TEST_INFRA`` = ``local`` | ``testcontainers`` | ``auto`` (the default) chooses;
``auto`` takes servers named in the environment first, else containers when a Docker engine
answers, else the local stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from promptworks_contracts.topics import ALL_EVENT_TOPICS, dlq_topic
from promptworks_eventkit.db import asyncpg_dsn
from promptworks_eventkit.kafka import ensure_topics
from promptworks_eventkit.settings import KafkaSettings

REPO = Path(__file__).resolve().parents[2]
TEST_STACK_ENV = {
    "PROMPTWORKS_STATE_DIR": str(REPO / ".local" / "test-stack"),
    "PROMPTWORKS_PG_PORT": "55432",
    "PROMPTWORKS_KAFKA_PORT": "29092",
    "PROMPTWORKS_KAFKA_CONTROLLER_PORT": "29093",
    "PROMPTWORKS_PG_FAST": "1",
}

SERVICE_MODULES = {
    "prompt-service": "prompt_service",
    "run-orchestrator": "run_orchestrator",
    "evaluator": "evaluator",
    "query-api": "query_api",
}


@dataclass(frozen=True)
class Infra:
    database_url_base: str
    kafka_bootstrap_servers: str

    def database_url(self, name: str) -> str:
        return f"{self.database_url_base}/{name}"


BACKEND_VARIABLE = "PROMPTWORKS_TEST_INFRA"
Backend = Literal["local", "testcontainers"]


def docker_answers(timeout: float = 2.0) -> bool:
    """Whether a Docker engine answers a ping (``DOCKER_HOST`` or the default socket)."""
    try:
        import docker

        client = docker.from_env(timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def choose_backend(
    environ: Mapping[str, str], docker: Callable[[], bool] = docker_answers
) -> Backend:
    choice = environ.get(BACKEND_VARIABLE, "auto").strip().lower() or "auto"
    if choice == "local":
        return "local"
    if choice == "testcontainers":
        return "testcontainers"
    if choice != "auto":
        raise ValueError(
            f"{BACKEND_VARIABLE} must be local, testcontainers or auto, not {choice!r}"
        )
    if environ.get("KAFKA_BOOTSTRAP_SERVERS") and environ.get("DATABASE_URL_BASE"):
        return "local"  # servers named explicitly: never start containers beside them
    return "testcontainers" if docker() else "local"


@contextlib.contextmanager
def running_infra(
    environ: Mapping[str, str] | None = None, docker: Callable[[], bool] = docker_answers
) -> Iterator[Infra]:
    """The session's infrastructure from the chosen back end; containers are removed after."""
    env = os.environ if environ is None else environ
    backend = choose_backend(env, docker)
    if backend == "local":
        yield start_infra()
        return
    if not docker():
        raise RuntimeError(f"{BACKEND_VARIABLE}=testcontainers, but no Docker engine answers")
    from tests.support.containers import running_containers

    with running_containers() as infra:
        yield infra


def start_infra() -> Infra:
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    database = os.environ.get("DATABASE_URL_BASE")
    if kafka and database:
        return Infra(database.rstrip("/"), kafka)
    env = {**os.environ, **TEST_STACK_ENV}
    subprocess.run(["bash", str(REPO / "deploy/local/infra.sh"), "up"], env=env, check=True)
    return Infra(
        f"postgresql+asyncpg://promptworks:promptworks@127.0.0.1:{TEST_STACK_ENV['PROMPTWORKS_PG_PORT']}",
        f"127.0.0.1:{TEST_STACK_ENV['PROMPTWORKS_KAFKA_PORT']}",
    )


async def create_database(infra: Infra, prefix: str) -> str:
    """A new, empty database; returns its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(asyncpg_dsn(infra.database_url("postgres")))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return infra.database_url(name)


async def drop_database(infra: Infra, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    connection = await asyncpg.connect(asyncpg_dsn(infra.database_url("postgres")))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def migrate(service: str, database_url: str) -> None:
    """Runs a service's Alembic migrations the way deployments do: its ``migrate`` command."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        SERVICE_MODULES[service],
        "migrate",
        env={**os.environ, "DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{service} migrate failed:\n{output.decode()}")


async def alembic(ini: Path, database_url: str, *args: str) -> None:
    """Runs Alembic (``upgrade 0011``, ``downgrade -1``) in its own process, with
    ``DATABASE_URL`` pointing at one test's database only: a migration test's steps."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "alembic", "-c", str(ini), *args,
        env={**os.environ, "DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()


@functools.cache
def migrations_digest(service: str) -> str:
    """A digest of everything a service's ``migrate`` runs: its Alembic scripts, its source
    (migrations import its tables and backfills) and the shared libraries. A change to any of
    them names a new template, so a template is never stale."""
    roots = [
        REPO / "services" / service / "alembic",
        REPO / "services" / service / "src",
        REPO / "libs",
        REPO / "contracts" / "src",
    ]
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(REPO)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


async def create_migrated_database(infra: Infra, service: str) -> str:
    """A new database with ``service``'s migrations applied; returns its SQLAlchemy URL.

    Migrating costs 2-5 s of a Python process per database, and the suite creates hundreds:
    instead, the service's real ``migrate`` command runs once into a template database named
    by ``migrations_digest``, and each test database is a copy of it (``CREATE DATABASE ...
    TEMPLATE``, a file copy in the server). Templates stay on the throwaway test server, so
    later runs with the same code reuse them. Built under a name of its own and renamed when
    complete, a template is never copied half-migrated; an advisory lock makes the parallel
    test workers build each template once."""
    prefix = service.replace("-", "_")
    template = f"template_{prefix}_{migrations_digest(service)}"
    connection = await asyncpg.connect(asyncpg_dsn(infra.database_url("postgres")))
    try:
        if not await _database_exists(connection, template):
            lock_key = int.from_bytes(
                hashlib.sha256(template.encode()).digest()[:8], "big", signed=True
            )
            await connection.execute("SELECT pg_advisory_lock($1)", lock_key)
            try:
                if not await _database_exists(connection, template):
                    await _build_template(infra, connection, service, template)
            finally:
                await connection.execute("SELECT pg_advisory_unlock($1)", lock_key)
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        await _copy_settings(connection, template, name)
    finally:
        await connection.close()
    return infra.database_url(name)


async def _copy_settings(connection: asyncpg.Connection, source: str, target: str) -> None:
    """A database's own settings (``ALTER DATABASE ... SET``, e.g. query-api's search path to
    its read-model schema, migration 0011) are not copied with the template: set them too."""
    settings = await connection.fetchval(
        "SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
        "WHERE d.datname = $1 AND s.setrole = 0",
        source,
    )
    for setting in settings or ():
        name, value = setting.split("=", 1)
        await connection.execute(f'ALTER DATABASE "{target}" SET {name} = {value}')


async def _database_exists(connection: asyncpg.Connection, name: str) -> bool:
    found = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
    return found is not None


async def _build_template(
    infra: Infra, connection: asyncpg.Connection, service: str, template: str
) -> None:
    building = f"{template}_building"
    await connection.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
    await connection.execute(f'CREATE DATABASE "{building}"')
    await migrate(service, infra.database_url(building))
    await connection.execute(f'ALTER DATABASE "{building}" RENAME TO "{template}"')


async def delete_topics(kafka: KafkaSettings) -> None:
    """Deletes every topic under ``kafka.topic_prefix``: a long suite would otherwise leave
    hundreds of partitions on the broker."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(kafka.topic_prefix)]
        if names and kafka.topic_prefix:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def isolated_kafka(infra: Infra) -> KafkaSettings:
    """Kafka settings with a topic prefix of their own, topics created."""
    kafka = KafkaSettings(
        bootstrap_servers=infra.kafka_bootstrap_servers,
        topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
    )
    await ensure_topics(kafka, [*ALL_EVENT_TOPICS, *(dlq_topic(t) for t in ALL_EVENT_TOPICS)])
    return kafka
