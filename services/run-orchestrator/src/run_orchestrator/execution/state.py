"""What the executor knows about one run, read back from its own tables and event store.

A run is resumable from this state alone: the RunCreated snapshot says what to call, the
stream version is where the next batch goes, and ``run_results`` says which (case,
repetition) pairs already have a result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from promptworks_contracts.events import DomainEvent, RunCreated
from promptworks_eventkit.eventstore import EventStore
from promptworks_eventkit.messages import MessageContext
from promptworks_eventkit.tables import events
from run_orchestrator.tables import run_results, runs


@dataclass
class RunState:
    run_id: UUID
    created: RunCreated
    status: str
    version: int
    """The stream's version; the executor is the only writer of a running run."""
    succeeded: int
    failed: int
    context: MessageContext
    done: set[tuple[int, int]] = field(default_factory=set)

    @property
    def stream_id(self) -> str:
        return str(self.run_id)

    @property
    def case_count(self) -> int:
        return max(1, len(self.created.cases))


async def load_run(session: AsyncSession, store: EventStore, run_id: UUID) -> RunState | None:
    row = (
        await session.execute(
            select(runs.c.status, runs.c.succeeded, runs.c.failed).where(runs.c.run_id == run_id)
        )
    ).first()
    if row is None:
        return None
    stream_id = str(run_id)
    data, metadata = (
        await session.execute(
            select(events.c.data, events.c.metadata).where(
                events.c.stream_id == stream_id, events.c.version == 1
            )
        )
    ).one()
    done = await session.execute(
        select(run_results.c.case_index, run_results.c.repetition).where(
            run_results.c.run_id == run_id
        )
    )
    return RunState(
        run_id=run_id,
        created=RunCreated.model_validate(data),
        status=row.status,
        version=await store.version(session, stream_id),
        succeeded=row.succeeded,
        failed=row.failed,
        # Lifecycle and result events belong to the request that created the run.
        context=MessageContext(
            correlation_id=metadata["correlationid"],
            causation_id=str(metadata["id"]),
            traceparent=metadata.get("traceparent"),
        ),
        done={(c, r) for c, r in done},
    )


async def append_lifecycle(
    sessions: async_sessionmaker[AsyncSession],
    store: EventStore,
    state: RunState,
    event: DomainEvent,
    status: str,
) -> None:
    """Appends one lifecycle event and moves ``runs.status`` in the same transaction."""
    async with sessions() as session, session.begin():
        await store.append(session, state.stream_id, [event], state.version, state.context)
        await session.execute(
            update(runs)
            .where(runs.c.run_id == state.run_id)
            .values(status=status, updated_at=func.now())
        )
    state.version += 1
    state.status = status
