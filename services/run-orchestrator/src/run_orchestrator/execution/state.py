"""What the executor knows about one run, read back through the write port.

A run is resumable from this state alone: the RunCreated snapshot says what to call, the
stream version is where the next batch goes, and the recorded pairs say which (case,
repetition) pairs already have a result.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from promptworks_contracts.events import DomainEvent, RunCreated
from promptworks_contracts.values import Money
from promptworks_eventkit.messages import MessageContext
from promptworks_eventkit.writing.port import WritePort
from run_orchestrator.domain.caching import CachedResponse
from run_orchestrator.handlers.ports import RunRepository

ExecutorPort = WritePort[RunRepository]


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
    spent: Money | None = None
    """What the calls made so far cost (recorded or not yet); None: the price is unknown."""
    cancel_requested_by: str | None = None
    cache_keys: dict[tuple[int, int], str] = field(default_factory=dict)
    """Per pending pair, its response-cache key (runs that use the cache)."""
    cache_hits: dict[str, CachedResponse] = field(default_factory=dict)

    @property
    def stream_id(self) -> str:
        return str(self.run_id)

    @property
    def case_count(self) -> int:
        return max(1, len(self.created.cases))

    def pairs(self) -> Iterator[tuple[int, int]]:
        """Every (case, repetition) the run calls: all of them, or the snapshot's ``pairs``
        (a retry of failed calls)."""
        if self.created.pairs is not None:
            yield from self.created.pairs
            return
        repetitions = range(1, self.created.repetitions + 1)
        for case in range(self.case_count):
            for repetition in repetitions:
                yield case, repetition


async def load_run(port: ExecutorPort, run_id: UUID) -> RunState | None:
    stream_id = str(run_id)
    async with port.transaction() as tx:
        row = await tx.repos.find_run(run_id)
        if row is None:
            return None
        [snapshot] = await tx.load(stream_id, to_version=1)
        done = await tx.repos.recorded_pairs(run_id)
        version = await tx.version(stream_id)
    if not isinstance(snapshot.event, RunCreated):
        raise TypeError(f"run {run_id} starts with {snapshot.envelope.type}, not RunCreated")
    return RunState(
        run_id=run_id,
        created=snapshot.event,
        status=row.status,
        version=version,
        succeeded=row.succeeded,
        failed=row.failed,
        # Lifecycle and result events belong to the request that created the run.
        context=MessageContext.caused_by(snapshot.envelope),
        done=done,
        spent=_spent(snapshot.event, row.cost),
        cancel_requested_by=row.cancel_requested_by,
    )


def _spent(created: RunCreated, recorded: Decimal | None) -> Money | None:
    if created.pricing is None:
        return None
    return Money(amount=recorded or Decimal(0), currency=created.pricing.currency)


async def append_lifecycle(
    port: ExecutorPort, state: RunState, event: DomainEvent, status: str
) -> None:
    """Appends one lifecycle event and moves the run's status in the same transaction."""
    async with port.transaction(state.context) as tx:
        await tx.append(state.stream_id, [event], state.version)
        await tx.repos.set_status(state.run_id, status)
    state.version += 1
    state.status = status
