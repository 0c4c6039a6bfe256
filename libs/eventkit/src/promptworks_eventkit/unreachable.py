"""One line for an operator when a command cannot reach what it needs.

``migrate``, ``relay``, ``topics`` and query-api's ``rebuild`` are run by people and by
Kubernetes Jobs; a missing database or a refused password there should read as one line naming
the setting to fix, not as a 60-line traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import socket

import asyncpg
from aiokafka.errors import KafkaError
from sqlalchemy.engine import make_url

from promptworks_eventkit.failures import error_chain
from promptworks_eventkit.settings import ServiceSettings

_REFUSED_CREDENTIALS = (
    asyncpg.exceptions.InvalidPasswordError,
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,
)


def unreachable_message(error: BaseException, settings: ServiceSettings) -> str | None:
    """What to tell the operator, or None when ``error`` is not about reaching PostgreSQL or
    Kafka. The database URL is shown without its password."""
    database = make_url(settings.database_url.get_secret_value()).render_as_string(
        hide_password=True
    )
    for cause in error_chain(error):
        if isinstance(cause, asyncpg.exceptions.InvalidCatalogNameError):
            return f"the database in DATABASE_URL ({database}) does not exist: {cause}"
        if isinstance(cause, _REFUSED_CREDENTIALS):
            return f"PostgreSQL refused the credentials in DATABASE_URL ({database}): {cause}"
        if isinstance(
            cause,
            asyncpg.exceptions.CannotConnectNowError | asyncpg.exceptions.TooManyConnectionsError,
        ):
            return f"PostgreSQL at DATABASE_URL ({database}) is not accepting connections: {cause}"
        if isinstance(cause, KafkaError):
            servers = settings.kafka.bootstrap_servers
            return f"cannot reach Kafka at KAFKA_BOOTSTRAP_SERVERS ({servers}): {cause}"
    for cause in error_chain(error):
        if isinstance(cause, ConnectionError | TimeoutError | socket.gaierror):
            # Only PostgreSQL is reached over a plain socket here (aiokafka raises KafkaError).
            return f"cannot connect to PostgreSQL at DATABASE_URL ({database}): {cause}"
    return None
