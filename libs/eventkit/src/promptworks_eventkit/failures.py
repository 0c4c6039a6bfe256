"""Which failures are the infrastructure's (retry later) and which an event's (dead letter)."""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
from aiokafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57")
"""Connection exception, insufficient resources (too many connections, disk full), operator
intervention (shutting down, crashed, "the database system is not yet accepting connections"
while it recovers): the server's state, never an event's fault."""


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """The error and everything behind it, each once: SQLAlchemy wraps the driver's error
    (``orig``), which may wrap an OSError (``__cause__``/``__context__``)."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = current.orig if isinstance(current, DBAPIError) else None
        pending.extend([orig, current.__cause__, current.__context__])


def is_infrastructure_failure(error: BaseException) -> bool:
    """A lost connection or an unreachable or recovering server: retry later, never
    dead-letter an event. Looks through the whole chain (``error_chain``)."""
    for current in error_chain(error):
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(
            current,
            OperationalError
            | InterfaceError
            | OSError
            | KafkaError
            | asyncpg.PostgresConnectionError
            | asyncpg.exceptions.OperatorInterventionError
            | asyncpg.exceptions.InsufficientResourcesError,
        ):
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate[:2] in TRANSIENT_SQLSTATE_CLASSES:
            return True
    return False
