"""Which failures are the infrastructure's (retry later) and which an event's (dead letter).

Found by the fault test: while PostgreSQL recovered from an immediate stop, SQLAlchemy raised a
plain ``DBAPIError`` wrapping asyncpg's ``CannotConnectNowError`` (SQLSTATE 57P03, "the database
system is not yet accepting connections"), which was taken for the event's fault: evaluator and
query-api dead-lettered healthy events and the run never finished evaluating.
"""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError
from sqlalchemy.exc import DBAPIError, IntegrityError

from promptworks_eventkit.failures import is_infrastructure_failure


def wrapped(error: BaseException) -> DBAPIError:
    """The way SQLAlchemy's asyncpg dialect raises a driver error: a DBAPIError whose
    ``orig`` is the adapter's error, caused by the driver's."""
    adapted = Exception(str(error))
    adapted.__cause__ = error
    return DBAPIError("SELECT 1", None, adapted)


@pytest.mark.parametrize(
    "error",
    [
        wrapped(asyncpg.exceptions.CannotConnectNowError("not yet accepting connections")),
        wrapped(asyncpg.exceptions.AdminShutdownError("terminating connection")),
        wrapped(asyncpg.exceptions.TooManyConnectionsError("too many clients")),
        wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("closed mid-operation")),
        wrapped(ConnectionRefusedError(111, "Connect call failed")),
        KafkaConnectionError("broker gone"),
    ],
)
def test_a_server_that_is_down_or_recovering_is_the_infrastructures_failure(
    error: BaseException,
) -> None:
    assert is_infrastructure_failure(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("this event breaks the projection"),
        IntegrityError(
            "INSERT", None, Exception(asyncpg.exceptions.UniqueViolationError("duplicate"))
        ),
        wrapped(asyncpg.exceptions.UntranslatableCharacterError("\\u0000")),
    ],
)
def test_an_events_own_failure_is_not(error: BaseException) -> None:
    assert not is_infrastructure_failure(error)
