"""structlog set-up: JSON lines to stdout, one logger per module. Each line carries the
service, a UTC timestamp, the level, the request's ``correlation_id`` (bound by ``correlation``
for HTTP requests, and by the work that handles events) and, with tracing on, the current
``trace_id`` and ``span_id``.

The libraries' own lines (aiokafka, uvicorn, SQLAlchemy: the standard library's ``logging``)
go through the same processors (structlog's ``ProcessorFormatter``) and carry their logger's
name: an operator reading a broker outage in aiokafka's lines sees when each one happened and
greps them beside the service's own."""

from __future__ import annotations

import logging
import sys

import structlog

from promptworks_eventkit.tracing import add_trace_ids


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for previous in list(root.handlers):
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
