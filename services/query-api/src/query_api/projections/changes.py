"""The live projection names the projects each batch changed, for the workers' page caches.

One ``pg_notify`` per project in the batch, in the batch's own transaction: PostgreSQL delivers
a notification only when its transaction commits (and drops those of one that rolls back), so a
listener hears of a change exactly when readers can see it, never of one that did not happen.
Identical notifications of one transaction are delivered once. See ``query_api.pages``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_eventkit.messages import ReceivedEvent
from query_api.read_schema import CHANGES_CHANNEL

_ANNOUNCE = text(
    "SELECT pg_notify(:channel, project) FROM unnest(CAST(:projects AS text[])) AS project"
)


async def announce(session: AsyncSession, events: Sequence[ReceivedEvent]) -> None:
    """Tells the page caches (at commit) which projects' models ``events`` changed."""
    projects = sorted({event.envelope.project for event in events})
    if projects:
        await session.execute(_ANNOUNCE, {"channel": CHANGES_CHANNEL, "projects": projects})
