"""What run-orchestrator's handlers and executor need from its own tables, free of any
framework. ``adapters/postgres.py`` implements it on the write port's session,
``adapters/memory.py`` in memory for tests without infrastructure. A handler reaches it only as
``tx.repos``, so every write shares the unit of work of the events it goes with.

Invariants every implementation keeps:
- the prompt-version copy holds versions as ``PromptVersionCreated`` introduced them; versions
  are immutable, so adding one already present keeps the stored one;
- a run is added ``queued`` in the transaction that appends its ``RunCreated``; its status
  and counters change only in the transactions that append the matching events, so they
  always agree with the run's stream;
- a (case, repetition) has at most one recorded result: recording a second one raises
  ``ResultAlreadyRecordedError`` (another writer got there first) and the unit of work fails;
- ``record_results`` stores a whole batch (which pairs are done, the counters) in ONE round
  trip per table: the executor records thousands of results a second;
- what a method returns is the caller's copy: changing it stores nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final, Protocol
from uuid import UUID

from promptworks_contracts.events import PromptVersionCreated, ProviderState, ResultRecorded
from promptworks_contracts.projects import DEFAULT_PROJECT
from promptworks_eventkit.errors import ConflictError
from run_orchestrator.domain.caching import CachedResponse
from run_orchestrator.domain.prompt_version import PromptVersion

QUEUED: Final = "queued"
RUNNING: Final = "running"
COMPLETED: Final = "completed"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"
UNFINISHED: Final = (QUEUED, RUNNING)
"""Runs the executor still has to (finish to) execute."""


@dataclass(frozen=True)
class RunRow:
    """The executor's row of one run."""

    status: str
    total_calls: int
    recorded: int
    succeeded: int
    failed: int
    cost: Decimal | None = None
    """The recorded results' cost summed; None while no result had a known price."""
    cancel_requested_by: str | None = None
    """Set by POST /runs/{id}/cancel on a running run; the executor stops it."""
    project_id: str = DEFAULT_PROJECT
    """The project the run was created in: commands of another project do not see it."""


class ResultAlreadyRecordedError(ConflictError):
    """A (case, repetition) of the batch already has a result: another writer recorded it."""

    def __init__(self, run_id: UUID) -> None:
        super().__init__(
            f"run {run_id} already has a result for a (case, repetition) of this batch",
            rule="result_already_recorded",
        )


@dataclass(frozen=True)
class StoredProvider:
    """A catalog provider as run-orchestrator keeps it: the state its events describe, and
    the encrypted credential (only when the credential's source is ``encrypted``)."""

    provider_id: UUID
    state: ProviderState
    secret: bytes | None = None
    project_id: str = DEFAULT_PROJECT
    """The project whose catalog holds it (names are unique per project)."""


class RunRepository(Protocol):
    async def add_versions(
        self, versions: Sequence[PromptVersionCreated], project: str = DEFAULT_PROJECT
    ) -> None:
        """Adds versions to the local copy; a version already present is kept as it is."""
        ...

    async def find_version(self, version_id: UUID) -> PromptVersion | None:
        """A version of the local copy; None when it has not arrived (yet)."""
        ...

    async def move_label(self, prompt_id: UUID, label: str, version_id: UUID) -> None:
        """The prompt's ``label`` now points at ``version_id`` (the copy of PromptLabelMoved)."""
        ...

    async def remove_label(self, prompt_id: UUID, label: str) -> None: ...

    async def resolve_label(self, prompt_id: UUID, label: str) -> UUID | None:
        """The version ``label`` points at; ``latest`` is the highest number. None: unknown."""
        ...

    async def add_run(self, run_id: UUID, total_calls: int, project: str = DEFAULT_PROJECT) -> None:
        """Adds a ``queued`` run with nothing recorded."""
        ...

    async def find_run(self, run_id: UUID, *, for_update: bool = False) -> RunRow | None:
        """The run's row; ``for_update`` locks it until the transaction ends."""
        ...

    async def request_cancel(self, run_id: UUID, actor: str) -> None:
        """Marks a running run for the executor to stop."""
        ...

    async def set_status(self, run_id: UUID, status: str) -> None: ...

    async def unfinished_runs(self, limit: int) -> list[UUID]:
        """Runs ``pending`` or ``running``, oldest first, at most ``limit``."""
        ...

    async def find_provider(self, name: str, project: str) -> StoredProvider | None:
        """The provider ``name`` of ``project``'s catalog (another project's is None)."""
        ...

    async def list_providers(self, project: str | None = None) -> list[StoredProvider]:
        """The catalog providers of ``project`` (None: of every project), by name."""
        ...

    async def save_provider(self, provider: StoredProvider) -> None:
        """Adds or replaces the provider (by id); a second provider with the same name in the
        same project is refused (``ConflictError``)."""
        ...

    async def delete_provider(self, provider_id: UUID) -> None: ...

    async def cached_responses(
        self, keys: Sequence[str], not_before: datetime
    ) -> dict[str, CachedResponse]:
        """The cache's answers for ``keys`` stored at ``not_before`` or later."""
        ...

    async def store_responses(self, entries: Sequence[tuple[str, CachedResponse]]) -> None:
        """Adds answers to the cache; a key already there keeps its answer."""
        ...

    async def failed_pairs(self, run_id: UUID) -> list[tuple[int, int]]:
        """The (case, repetition) pairs whose result is an error, in order."""
        ...

    async def recorded_pairs(self, run_id: UUID) -> set[tuple[int, int]]:
        """The (case, repetition) pairs of the run that have a recorded result."""
        ...

    async def record_results(self, run_id: UUID, results: Sequence[ResultRecorded]) -> None:
        """Marks the results' pairs done and advances the run's counters (recorded,
        succeeded: no error, failed: an error, cost: the batch's known costs) by the batch."""
        ...
