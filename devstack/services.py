"""The four services as real OS processes: migrate, start, wait until ready, stop."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    database: str
    port: int
    serve_args: tuple[str, ...] = ()
    """Appended to ``serve``, e.g. ``("--no-relay",)``."""


def default_specs(base_port: int = 8000) -> list[ServiceSpec]:
    """query-api answers on ``base_port`` (8000 as the original backend did)."""
    return [
        ServiceSpec("prompt-service", "prompt_service", "prompt_service", base_port + 1),
        ServiceSpec("run-orchestrator", "run_orchestrator", "run_orchestrator", base_port + 2),
        ServiceSpec("evaluator", "evaluator", "evaluator", base_port + 3),
        ServiceSpec("query-api", "query_api", "query_api", base_port),
    ]


@dataclass
class Stack:
    """One deployment: where its databases and Kafka are, and how its services reach each other."""

    database_url_base: str
    kafka_bootstrap_servers: str
    run_dir: Path
    specs: list[ServiceSpec] = field(default_factory=default_specs)
    topic_prefix: str = ""
    databases: Mapping[str, str] = field(default_factory=dict)
    """Overrides a service's database name (tests use fresh ones)."""
    extra_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Per-service extra environment, e.g. run-orchestrator's PROVIDERS."""
    service_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    """The service credential query-api presents to the command services."""
    admin_key: str = field(default_factory=lambda: new_admin_key())
    """query-api's bootstrap admin key: what the demo, the CLI and tests call it with."""

    def spec(self, name: str) -> ServiceSpec:
        return next(s for s in self.specs if s.name == name)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.spec(name).port}"

    def env(self, spec: ServiceSpec) -> dict[str, str]:
        database = self.databases.get(spec.name, spec.database)
        env = {
            **os.environ,
            "DATABASE_URL": f"{self.database_url_base}/{database}",
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "KAFKA_TOPIC_PREFIX": self.topic_prefix,
            "HTTP_PORT": str(spec.port),
            "PROMPT_SERVICE_URL": self.url("prompt-service"),
            "RUN_ORCHESTRATOR_URL": self.url("run-orchestrator"),
            "EVALUATOR_URL": self.url("evaluator"),
            "SERVICE_TOKEN": self.service_token,
            **(self._query_api_env() if spec.name == "query-api" else {}),
            **self.extra_env.get(spec.name, {}),
        }
        return env

    def _query_api_env(self) -> dict[str, str]:
        # The web console's build (make install builds it); query-api serves it at /.
        return {"BOOTSTRAP_ADMIN_KEY": self.admin_key, "WEB_DIST": str(REPO / "web" / "dist")}

    def console_url(self) -> str:
        """The console with the admin key in the fragment (never sent to a server; the page
        moves it into the tab's session storage and drops it from the address bar)."""
        return f"{self.url('query-api')}/#key={self.admin_key}"

    def api_headers(self) -> dict[str, str]:
        """Headers of a call to query-api as the bootstrap admin."""
        return {"Authorization": f"Bearer {self.admin_key}"}

    def api_client(self, path: str = "", **options: Any) -> httpx.AsyncClient:
        """An HTTP client on query-api (``path``, e.g. ``/api/v1``, appended to its URL) that
        authenticates as the bootstrap admin."""
        headers = {**self.api_headers(), **options.pop("headers", {})}
        base_url = self.url("query-api") + path
        return httpx.AsyncClient(base_url=base_url, headers=headers, **options)

    def service_headers(self) -> dict[str, str]:
        """Headers of a direct call to a command service (as query-api makes it)."""
        return {"Authorization": f"Bearer {self.service_token}"}

    def _command(self, spec: ServiceSpec, *args: str) -> list[str]:
        return [sys.executable, "-m", spec.module, *args]

    def migrate(self) -> None:
        for spec in self.specs:
            subprocess.run(self._command(spec, "migrate"), env=self.env(spec), check=True, cwd=REPO)

    def create_topics(self) -> None:
        spec = self.spec("prompt-service")
        subprocess.run(
            self._command(spec, "topics"),
            env=self.env(spec),
            check=True,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
        )

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.log"

    def start(self, name: str) -> int:
        """Starts one service in its own session (it outlives this process); returns its pid."""
        spec = self.spec(name)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file(name).open("ab") as log:
            process = subprocess.Popen(
                self._command(spec, "serve", *spec.serve_args),
                env=self.env(spec),
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_file(name).write_text(str(process.pid))
        return process.pid

    def start_all(self) -> None:
        for spec in self.specs:
            if not self.is_running(spec.name):
                self.start(spec.name)

    def is_running(self, name: str) -> bool:
        pid = self.pid(name)
        return pid is not None and _alive(pid)

    def pid(self, name: str) -> int | None:
        """The pid ``name`` was started with; None when none was, or when that pid now belongs
        to another program (pids are reused, 32,768 of them by default on Linux), so a stale
        pid file never makes ``stop`` signal a stranger's process group."""
        try:
            pid = int(self.pid_file(name).read_text())
        except (FileNotFoundError, ValueError):
            return None
        return None if _runs_other_program(pid, self.spec(name).module) else pid

    def wait_ready(
        self,
        timeout: float = 90.0,
        names: Sequence[str] | None = None,
        *,
        supervised: bool = False,
    ) -> None:
        """Waits until every service (or those ``names``) answers ``/readyz`` with 200. A
        service that exited fails at once, unless ``supervised`` (something else starts it
        again, as Kubernetes would); one whose port another process holds fails at once too
        (``PortTakenError``)."""
        deadline = time.monotonic() + timeout
        pending = set(names) if names is not None else {spec.name for spec in self.specs}
        while pending:
            for name in sorted(pending):
                if not self.is_running(name) and not supervised:
                    raise RuntimeError(f"{name} exited; see {self.log_file(name)}")
                try:
                    if httpx.get(f"{self.url(name)}/readyz", timeout=2).status_code == 200:
                        self._check_answered_by(name)
                        pending.discard(name)
                except httpx.HTTPError:
                    pass
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"not ready after {timeout:.0f}s: {sorted(pending)}")
            time.sleep(0.2)

    def _check_answered_by(self, name: str) -> None:
        """Raises ``PortTakenError`` when another process holds ``name``'s port: its ``/readyz``
        answered, so the service itself will fail to bind, and everything after would talk to
        a stranger (an old stack's query-api refusing this stack's admin key)."""
        pid, port = self.pid(name), self.spec(name).port
        if pid is None or not _alive(pid) or _listens(pid, port):
            return  # not ours to judge, or gone (the caller reports an exit)
        holder = _listener_of(port)
        raise PortTakenError(
            f"{name}: port {port} is held by another process"
            f"{f' (pid {holder})' if holder is not None else ''}, not by {name} (pid {pid}); "
            "stop it or choose another port"
        )

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        pid = self.pid(name)
        if pid is not None and _alive(pid):
            os.killpg(pid, sig)
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
        self.pid_file(name).unlink(missing_ok=True)

    def stop_all(self) -> None:
        for spec in reversed(self.specs):
            self.stop(spec.name)

    def describe(self) -> str:
        return json.dumps({s.name: self.url(s.name) for s in self.specs}, indent=2)


class PortTakenError(RuntimeError):
    """A service's port answers, but from a process that is not the service."""


def _runs_other_program(pid: int, module: str) -> bool:
    """Whether ``pid`` is alive and not ``python -m <module> serve`` (gone or a zombie: no)."""
    try:
        command = psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return False
    return bool(command) and command[1:4] != ["-m", module, "serve"]


def _listens(pid: int, port: int) -> bool:
    """Whether ``pid`` or one of its descendants (uvicorn's workers) listens on TCP ``port``."""
    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return False
    for process in family:
        try:
            connections = process.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in connections):
            return True
    return False


def _listener_of(port: int) -> int | None:
    """The pid listening on TCP ``port``, when this user may see it."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return None
    return next(
        (c.pid for c in connections if c.status == psutil.CONN_LISTEN and c.laddr.port == port),
        None,
    )


def new_admin_key() -> str:
    return "pwk_" + secrets.token_urlsafe(32)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        return finished == 0
    except ChildProcessError:
        return True
