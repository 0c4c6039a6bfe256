"""The command line every service shares: ``serve``, ``migrate``, ``relay``, ``topics``.

Migrations are a start step (``migrate``), never run by the app at import or start-up.
Logging and tracing (``tracing``: on when the ``OTEL_*`` variables ask) are set up here, the
one bootstrap of every service process (``served_app``; each HTTP worker process runs it too).

``serve --workers N`` (a service that names its ``worker_app``) starts N uvicorn worker
processes on one socket; each builds the whole app with its background work, as a replica would.
uvicorn picks uvloop and httptools (dependencies of eventkit) over asyncio's loop and h11: per
request about 280 fewer Python calls in the protocol and the loop (``bench/README.md``); an
answer's head and body go out in one write (``http_protocol``).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import typer
import uvicorn
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from pydantic import ValidationError

from promptworks_contracts.topics import ALL_EVENT_TOPICS, dlq_topic
from promptworks_eventkit import http_protocol
from promptworks_eventkit.db import asyncpg_dsn
from promptworks_eventkit.exposition import MULTIPROCESS_DIR_VARIABLE
from promptworks_eventkit.kafka import TopicsNotCreated, create_producer, ensure_topics
from promptworks_eventkit.logging import configure_logging
from promptworks_eventkit.relay import OutboxRelay
from promptworks_eventkit.settings import KafkaSettings, ServiceSettings
from promptworks_eventkit.tracing_setup import configure_tracing, instrument_app, shutdown_tracing
from promptworks_eventkit.unreachable import unreachable_message

UNREACHABLE_EXIT_CODE = 2
"""A command's exit status when PostgreSQL or Kafka cannot be reached or refuses it."""


S = TypeVar("S", bound=ServiceSettings)

INVALID_SETTINGS_EXIT_CODE = 2
"""A command's exit status when a setting in the environment is invalid."""


def load_settings(settings_factory: Callable[[], S]) -> S:
    """The service's settings from the environment; an invalid one is a line on stderr per
    variable (its name and the rule, never its value: it may be a secret) and exit status 2,
    not a traceback."""
    try:
        return settings_factory()
    except ValidationError as invalid:
        nested = invalid.title == KafkaSettings.__name__  # built by its own default factory
        prefix = KafkaSettings.model_config.get("env_prefix", "") if nested else ""
        for error in invalid.errors():
            variable = prefix + "__".join(str(part) for part in error["loc"]).upper()
            typer.echo(f"invalid setting {variable}: {error['msg']}", err=True)
        raise typer.Exit(INVALID_SETTINGS_EXIT_CODE) from None


@contextlib.contextmanager
def explained_when_unreachable(settings: ServiceSettings) -> Iterator[None]:
    """Turn "cannot reach PostgreSQL or Kafka" into one line on stderr and exit status 2;
    every other error keeps its traceback."""
    try:
        yield
    except Exception as error:
        message = unreachable_message(error, settings)
        if message is None:
            raise
        typer.echo(f"{settings.service_name}: {message}", err=True)
        raise typer.Exit(UNREACHABLE_EXIT_CODE) from None


def served_app(
    settings: ServiceSettings,
    app_factory: Callable[[ServiceSettings, bool], FastAPI],
    relay: bool,
) -> FastAPI:
    """The app a process serves, after the process's logging and tracing are set up."""
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    configure_tracing(settings.service_name)
    service = app_factory(settings, relay)
    instrument_app(service)
    return service


@contextlib.contextmanager
def shared_metrics_directory() -> Iterator[None]:
    """Workers started inside keep their metrics in one fresh directory (``exposition``), so
    each one's ``/metrics`` answers for all; deleted when they have stopped."""
    directory = tempfile.mkdtemp(prefix="promptworks-metrics-")
    os.environ[MULTIPROCESS_DIR_VARIABLE] = directory
    try:
        yield
    finally:
        os.environ.pop(MULTIPROCESS_DIR_VARIABLE, None)
        shutil.rmtree(directory, ignore_errors=True)


def worker_process_app(
    settings_factory: Callable[[], ServiceSettings],
    app_factory: Callable[[ServiceSettings, bool], FastAPI],
) -> FastAPI:
    """What a service's ``worker_app`` returns: the app of one HTTP worker process."""
    atexit.register(shutdown_tracing)
    return served_app(load_settings(settings_factory), app_factory, False)


def service_cli(
    *,
    settings_factory: Callable[[], ServiceSettings],
    app_factory: Callable[[ServiceSettings, bool], FastAPI],
    alembic_ini: Path,
    worker_app: str | None = None,
) -> typer.Typer:
    """``worker_app``: ``"module:function"``, a function without arguments that returns the
    app of one worker process (``worker_process_app``); without it ``serve`` has one process.
    """
    app = typer.Typer(add_completion=False, no_args_is_help=True)

    @app.command()
    def serve(
        relay: bool = typer.Option(True, help="Run the outbox relay in this process."),
        workers: int | None = typer.Option(
            None,
            min=1,
            help="HTTP worker processes (default: WEB_CONCURRENCY where the service has it, "
            "else 1).",
        ),
    ) -> None:
        """Serve the HTTP API and run the service's background work."""
        settings = load_settings(settings_factory)
        count = workers or int(getattr(settings, "web_concurrency", 1))
        if count > 1:
            if worker_app is None:
                raise typer.BadParameter(
                    f"{settings.service_name} runs in one process; scale it with replicas",
                    param_hint="--workers",
                )
            configure_logging(settings.service_name, settings.log_level, settings.log_json)
            with shared_metrics_directory():
                uvicorn.run(
                    worker_app,
                    factory=True,
                    workers=count,
                    host=settings.http_host,
                    port=settings.http_port,
                    log_config=None,
                    access_log=False,
                    http=http_protocol.PROTOCOL,
                )
            return
        service = served_app(settings, app_factory, relay)
        try:
            uvicorn.run(
                service,
                host=settings.http_host,
                port=settings.http_port,
                log_config=None,
                access_log=False,
                http=http_protocol.PROTOCOL,
            )
        finally:
            shutdown_tracing()

    @app.command()
    def migrate(revision: str = "head") -> None:
        """Apply this service's Alembic migrations to DATABASE_URL."""
        settings = load_settings(settings_factory)
        config = Config(str(alembic_ini))
        config.set_main_option("script_location", str(alembic_ini.parent / "alembic"))
        config.set_main_option(
            "sqlalchemy.url", settings.database_url.get_secret_value().replace("%", "%%")
        )
        with explained_when_unreachable(settings):
            command.upgrade(config, revision)

    @app.command("relay")
    def relay_only() -> None:
        """Run only the outbox relay (for a dedicated relay process)."""
        settings = load_settings(settings_factory)
        configure_logging(settings.service_name, settings.log_level, settings.log_json)
        configure_tracing(settings.service_name)

        async def run() -> None:
            producer = create_producer(settings.kafka, f"{settings.service_name}-relay")
            await producer.start()
            try:
                dsn = asyncpg_dsn(settings.database_url.get_secret_value())
                await OutboxRelay(dsn, producer).run()
            finally:
                await producer.stop()

        try:
            with explained_when_unreachable(settings):
                asyncio.run(run())
        finally:
            shutdown_tracing()

    @app.command()
    def topics() -> None:
        """Create the event topics and their dead-letter topics if they are missing."""
        settings = load_settings(settings_factory)
        names = [*ALL_EVENT_TOPICS, *(dlq_topic(t) for t in ALL_EVENT_TOPICS)]
        with explained_when_unreachable(settings):
            try:
                created = asyncio.run(ensure_topics(settings.kafka, names))
            except TopicsNotCreated as refused:
                typer.echo(f"{settings.service_name}: {refused}", err=True)
                raise typer.Exit(1) from None
        typer.echo(f"created: {', '.join(created) if created else 'none (all present)'}")

    return app
