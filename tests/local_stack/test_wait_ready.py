"""``Stack.wait_ready`` trusts a ``/readyz`` answer only from the service it started: with
another process on the port (an old stack's query-api), the new one cannot bind, and the demo, a
CLI or a test would talk to the stranger, e.g. get 401s for this stack's admin key."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from devstack.services import PortTakenError, ServiceSpec, Stack, default_specs
from tests.support.fake_openai import free_port
from tests.support.readyz_server import Ready

NAME = "stand-in"


def stand_in_stack(run_dir: Path, port: int, ready_after: float) -> Stack:
    spec = ServiceSpec(NAME, "tests.support.readyz_server", "unused", port)
    return Stack(
        database_url_base="postgresql+asyncpg://unused@127.0.0.1:1",
        kafka_bootstrap_servers="127.0.0.1:1",
        run_dir=run_dir,
        specs=[*default_specs(), spec],  # the others only name their URLs; never started
        extra_env={NAME: {"READY_AFTER_SECONDS": str(ready_after)}},
    )


@pytest.fixture
def stranger() -> Iterator[int]:
    """Another process's server on a loopback port (a thread here: psutil sees this process
    as the holder), answering 200 to everything; yields the port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_a_port_answered_by_another_process_fails_at_once(tmp_path: Path, stranger: int) -> None:
    # The stand-in binds only after 5 s: the stranger answers first, as an old query-api
    # answers while the new one is still importing.
    stack = stand_in_stack(tmp_path, stranger, ready_after=5)
    stack.start(NAME)
    try:
        with pytest.raises(PortTakenError, match=rf"port {stranger} is held by another process"):
            stack.wait_ready(timeout=4, names=[NAME])
    finally:
        stack.stop(NAME)


def test_the_service_itself_answering_is_ready(tmp_path: Path) -> None:
    stack = stand_in_stack(tmp_path, free_port(), ready_after=0.5)
    stack.start(NAME)
    try:
        stack.wait_ready(timeout=30, names=[NAME])
        assert stack.is_running(NAME)
    finally:
        stack.stop(NAME)


def test_a_stale_pid_file_never_names_another_program(tmp_path: Path) -> None:
    # The pid file outlived its service and the pid went to another program (here, this
    # test's own process): stop must not signal it, is_running must not count it.
    stack = stand_in_stack(tmp_path, free_port(), ready_after=0)
    tmp_path.mkdir(exist_ok=True)
    stack.pid_file(NAME).write_text(str(os.getpid()))
    assert stack.pid(NAME) is None
    assert not stack.is_running(NAME)
    stack.stop(NAME)  # would SIGTERM pytest's own process group
    assert not stack.pid_file(NAME).exists()
