"""One service as a real OS process for a test, the way the devstack runs it: devstack's
``Stack`` starts ``python -m <module> serve``, waits for ``/readyz`` and stops it (SIGTERM,
then SIGKILL). Tests of one service reach another this way, over HTTP, never by importing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from devstack.services import Stack, default_specs
from promptworks_eventkit.settings import KafkaSettings
from tests.support.credentials import ADMIN_KEY, SERVICE_TOKEN
from tests.support.fake_openai import free_port


@contextlib.asynccontextmanager
async def service_process(
    name: str,
    database_url: str,
    kafka: KafkaSettings,
    run_dir: Path,
    *serve_args: str,
    env: Mapping[str, str] | None = None,
    ready_within: float = 60.0,
) -> AsyncIterator[str]:
    """Serves service ``name`` (e.g. ``"prompt-service"``) on a free loopback port, on
    ``database_url`` (already migrated, e.g. by the ``database`` fixture) and ``kafka``'s topics;
    yields its base URL once ``/readyz`` answers 200. Its log is ``run_dir/<name>.log``. It
    runs with the test credentials (``tests.support.credentials``)."""
    base, database = database_url.rsplit("/", 1)
    # Every spec stays in the stack (its environment names the other services' URLs); only
    # ``name`` is started.
    specs = [
        dataclasses.replace(spec, port=free_port(), serve_args=serve_args)
        if spec.name == name
        else spec
        for spec in default_specs()
    ]
    stack = Stack(
        database_url_base=base,
        kafka_bootstrap_servers=kafka.bootstrap_servers,
        run_dir=run_dir,
        specs=specs,
        topic_prefix=kafka.topic_prefix,
        databases={name: database},
        extra_env={name: {"HTTP_HOST": "127.0.0.1", "LOG_JSON": "false", **(env or {})}},
        service_token=SERVICE_TOKEN,
        admin_key=ADMIN_KEY,
    )
    stack.start(name)
    try:
        try:
            await asyncio.to_thread(stack.wait_ready, ready_within, [name])
        except (RuntimeError, TimeoutError) as error:
            log = stack.log_file(name).read_text(errors="replace")[-4000:]
            raise RuntimeError(f"{error}\n--- {name} log (tail) ---\n{log}") from error
        yield stack.url(name)
    finally:
        await asyncio.to_thread(stack.stop, name)
