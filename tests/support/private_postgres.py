"""A private PostgreSQL server alone (no broker), for tests that crash it: ``crash()`` is
``pg_ctl stop -m immediate`` (no checkpoint, shared memory dropped: what a crash of the server
leaves), ``start()`` starts it again on its data (crash recovery). Durable settings (fsync,
synchronous commit and full-page writes on), like ``deploy/local/infra.sh`` without
``PROMPTWORKS_PG_FAST``. The shared test stack is never touched.

``settings`` are added to the server's configuration: a test of asynchronous commit sets
``wal_writer_delay`` to its maximum, so that commits acknowledged shortly before a crash are
lost for certain rather than by chance."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from promptworks_eventkit.db import asyncpg_dsn
from tests.support.fake_openai import free_port

USER = PASSWORD = "promptworks"


def _bin_dir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: p.parts[-3])
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run `deploy/local/infra.sh install`")
    return found[-1].parent


def _as_owner(command: list[str]) -> list[str]:
    """initdb refuses root: as root, the server's tools run as the ``postgres`` OS user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


class PrivatePostgres:
    def __init__(self, root: Path, settings: Mapping[str, str]) -> None:
        self.port = free_port()
        self._bin = _bin_dir()
        self._data = root / "data"
        self._log = root / "postgresql.log"
        self._settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{root}'",
            "fsync": "on",
            "synchronous_commit": "on",
            "full_page_writes": "on",
            **settings,
        }

    @property
    def database_url_base(self) -> str:
        return f"postgresql+asyncpg://{USER}:{PASSWORD}@127.0.0.1:{self.port}"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            _as_owner([str(self._bin / tool), *args]),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd="/",
        )

    def init(self) -> None:
        # --no-sync: a throwaway cluster; the server itself runs with fsync on.
        self._run("initdb", "-D", str(self._data), "-U", "postgres", "-E", "UTF8", "--no-sync",
                  "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=trust")  # fmt: skip
        with (self._data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in self._settings.items())
        self.start()
        self._run("psql", "-X", "-q", "-h", str(self._data.parent), "-p", str(self.port),
                  "-U", "postgres", "-d", "postgres", "-c",
                  f"CREATE ROLE {USER} LOGIN SUPERUSER PASSWORD '{PASSWORD}'")  # fmt: skip

    def copy_database(self, source_url: str) -> str:
        """A copy of another server's database (a migrated test database: migrating here
        would cost a ``migrate`` process, 5-20 s on a loaded machine), with its own settings
        (query-api's search path); its SQLAlchemy URL on this server."""
        source = asyncpg_dsn(source_url)
        dump = subprocess.run(
            [str(self._bin / "pg_dump"), "--create", "-d", source],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(
            [
                str(self._bin / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                f"postgresql://{USER}@127.0.0.1:{self.port}/postgres",
            ],
            input=dump,
            check=True,
            capture_output=True,
        )
        return f"{self.database_url_base}/{source_url.rsplit('/', 1)[1]}"

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self._data), "-l", str(self._log), "-w", "-t", "60",
                  "-s", "start")  # fmt: skip

    def crash(self) -> None:
        self._run("pg_ctl", "-D", str(self._data), "-s", "-w", "stop", "-m", "immediate")


@contextlib.contextmanager
def running_private_postgres(
    settings: Mapping[str, str] | None = None,
) -> Iterator[PrivatePostgres]:
    """Started here, stopped and deleted afterwards. Its directory is under /var/tmp: the
    ``postgres`` OS user must reach it (pytest's temporary directories are private to root)."""
    root = Path(tempfile.mkdtemp(prefix="promptworks-pg-", dir="/var/tmp"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    server = PrivatePostgres(root, settings or {})
    try:
        server.init()
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            server.crash()
        shutil.rmtree(root, ignore_errors=True)
