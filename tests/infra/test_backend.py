"""Which back end the test fixtures take Kafka and PostgreSQL from: servers named in the
environment, else testcontainers where a Docker engine answers, else the local stack; the
``PROMPTWORKS_TEST_INFRA`` variable overrides. (Where Docker answers, the whole suite runs on
the containers; here, without Docker, the local back end must stay the one chosen.)"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from tests.support.infra import choose_backend, docker_answers, running_infra

SERVERS = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:29092",
    "DATABASE_URL_BASE": "postgresql+asyncpg://u:p@127.0.0.1:55432",
}


def docker(answers: bool) -> Callable[[], bool]:
    def ping() -> bool:
        return answers

    return ping


@pytest.mark.parametrize(
    ("environ", "docker_up", "backend"),
    [
        ({}, False, "local"),  # nothing named, no Docker: the local stack (infra.sh)
        ({}, True, "testcontainers"),  # a Docker engine answers: containers
        (SERVERS, True, "local"),  # servers named: used, never containers beside them
        (SERVERS, False, "local"),
        ({"PROMPTWORKS_TEST_INFRA": "testcontainers", **SERVERS}, False, "testcontainers"),
        ({"PROMPTWORKS_TEST_INFRA": "local"}, True, "local"),
        ({"PROMPTWORKS_TEST_INFRA": " Auto "}, True, "testcontainers"),
        ({"PROMPTWORKS_TEST_INFRA": ""}, False, "local"),
    ],
)
def test_the_backend_follows_the_override_then_the_environment_then_docker(
    environ: dict[str, str], docker_up: bool, backend: str
) -> None:
    assert choose_backend(environ, docker(docker_up)) == backend


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="PROMPTWORKS_TEST_INFRA"):
        choose_backend({"PROMPTWORKS_TEST_INFRA": "docker"}, docker(True))


def test_containers_asked_for_without_docker_fail_clearly() -> None:
    environ = {"PROMPTWORKS_TEST_INFRA": "testcontainers"}
    with (
        pytest.raises(RuntimeError, match="no Docker engine answers"),
        running_infra(
            environ,
            docker(False),
        ),
    ):
        pass


def test_here_the_local_backend_is_the_one_in_use() -> None:
    """This machine has no Docker engine: the suite runs on the shared local stack."""
    if docker_answers():
        pytest.skip("a Docker engine answers here: the containers back end is in use")
    assert choose_backend(os.environ) == "local"
    assert choose_backend({}) == "local"  # even with nothing named, no containers here


def test_the_containers_module_names_what_it_starts() -> None:
    """Importable without Docker (images and the KRaft set-up are checked where it runs)."""
    from tests.support import containers

    assert containers.POSTGRES_IMAGE == "postgres:15"
    assert callable(containers.running_containers)
