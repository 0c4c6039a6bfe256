"""Dependencies the routers share: a read-only session, the write forwarder, 404s."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_eventkit.errors import NotFoundError
from promptworks_eventkit.runtime import Runtime
from query_api.settings import QueryApiSettings
from query_api.writes import ForwardedWrites

TOTAL_COUNT_HEADER = "X-Total-Count"


async def read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One snapshot per request, so a page and its total count agree with each other."""
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions() as session:
        await session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
        yield session


def forwarded_writes(request: Request) -> ForwardedWrites:
    writes: ForwardedWrites = request.app.state.writes
    return writes


def settings(request: Request) -> QueryApiSettings:
    value: QueryApiSettings = request.app.state.settings
    return value


def set_total(response: Response, total: int) -> None:
    response.headers[TOTAL_COUNT_HEADER] = str(total)


class ResourceNotFoundError(NotFoundError):
    """A path parameter names nothing that exists: 404 naming that parameter."""

    def detail(self) -> list[dict[str, Any]]:
        return [
            {
                "loc": ["path", self.field],
                "field": self.field,
                "type": "not_found",
                "msg": self.message,
            }
        ]


ReadSession = Annotated[AsyncSession, Depends(read_session)]
Writes = Annotated[ForwardedWrites, Depends(forwarded_writes)]
Settings = Annotated[QueryApiSettings, Depends(settings)]

PAGE_HEADERS = {
    TOTAL_COUNT_HEADER: {
        "description": "How many items match, over all pages",
        "schema": {"type": "integer"},
    }
}
