"""A private PostgreSQL + Kafka (``deploy/local/infra.sh`` on free ports, its own state dir) for
tests and benches that crash the infrastructure: the shared test stack is never touched.

Durable settings (fsync, synchronous commit and full-page writes on). ``pg_settings`` are added to
the server's configuration (``PROMPTWORKS_PG_SETTINGS``): a test of asynchronous commit sets
``wal_writer_delay`` to its maximum, so that commits acknowledged shortly before a crash are lost
for certain rather than by chance."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

from devstack.services import REPO
from promptworks_eventkit.db import asyncpg_dsn
from tests.support.fake_openai import free_port


class PrivateInfra:
    def __init__(self, state_dir: Path, pg_settings: Mapping[str, str] | None = None) -> None:
        self.state_dir = state_dir
        self.pg_port, self.kafka_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "PROMPTWORKS_STATE_DIR": str(state_dir),
            "PROMPTWORKS_PG_PORT": str(self.pg_port),
            "PROMPTWORKS_KAFKA_PORT": str(self.kafka_port),
            "PROMPTWORKS_KAFKA_CONTROLLER_PORT": str(free_port()),
            # Durable commits: with PG_FAST's synchronous_commit=off, an immediate stop loses
            # commits PostgreSQL already acknowledged (and the relay may already have published
            # their events): a crash test would then test the fast mode, not the system.
            "PROMPTWORKS_PG_FAST": "0",
            # A loaded machine (CI, shared cores) may need longer than the default 60 s for the
            # JVM; a small heap is plenty for a test broker.
            "PROMPTWORKS_KAFKA_START_TIMEOUT": "180",
            "PROMPTWORKS_KAFKA_HEAP": "512m",
            "PROMPTWORKS_PG_SETTINGS": ";".join(f"{k}={v}" for k, v in (pg_settings or {}).items()),
        }

    @property
    def database_url_base(self) -> str:
        return f"postgresql+asyncpg://promptworks:promptworks@127.0.0.1:{self.pg_port}"

    @property
    def kafka_bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def run(self, command: str) -> None:
        """``up``, ``up-postgres`` (PostgreSQL alone), ``reset``, ``crash-postgres`` (immediate
        stop) or ``crash-kafka`` (kill -9)."""
        script = REPO / "deploy/local/infra.sh"
        subprocess.run(
            ["bash", str(script), command],
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def up(self) -> None:
        self.run("up")

    def broker_report(self, lines: int = 40) -> str:
        """For a failure's message: whether the broker runs and answers (``infra.sh status``)
        and the end of its logs, so a broker that died after a restart says why."""
        script = REPO / "deploy/local/infra.sh"
        status = subprocess.run(
            ["bash", str(script), "status"], env=self.env, capture_output=True, text=True
        )
        report = [f"infra.sh status (rc {status.returncode}):", status.stdout + status.stderr]
        kafka = self.state_dir / "kafka"
        for log in (kafka / "stdout.log", kafka / "logs" / "server.log"):
            tail = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
            report += [f"--- last {len(tail)} lines of {log}:", *tail]
        return "\n".join(report)

    def crash_broker(self) -> None:
        self.run("crash-kafka")

    def crash_postgres(self) -> None:
        self.run("crash-postgres")

    def copy_database(self, source_url: str) -> str:
        """A copy of another server's database (a migrated test database: migrating here would
        cost a ``migrate`` process, 5-20 s on a loaded machine), with its own settings
        (query-api's search path); its SQLAlchemy URL on this server."""
        dump = subprocess.run(
            ["pg_dump", "--create", "-d", asyncpg_dsn(source_url)], check=True, capture_output=True
        ).stdout
        target = asyncpg_dsn(f"{self.database_url_base}/postgres")
        subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", target],
            input=dump,
            check=True,
            capture_output=True,
        )
        return f"{self.database_url_base}/{source_url.rsplit('/', 1)[1]}"


@contextlib.contextmanager
def running_private_infra(
    state_dir: Path, *, postgres_only: bool = False, pg_settings: Mapping[str, str] | None = None
) -> Iterator[PrivateInfra]:
    """Started here (``postgres_only``: no broker), and stopped and deleted afterwards."""
    infra = PrivateInfra(state_dir, pg_settings)
    infra.run("up-postgres" if postgres_only else "up")
    try:
        yield infra
    finally:
        infra.run("reset")
