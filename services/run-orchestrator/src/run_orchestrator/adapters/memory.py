"""``RunRepository`` in memory, for handler and executor tests without PostgreSQL: plain data
(the in-memory write port deep-copies it per transaction) with the semantics of the PostgreSQL
one (a version already present is kept, a second result for a pair is refused, runs listed
oldest first, returned rows are copies)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from promptworks_contracts.events import PromptVersionCreated, ResultRecorded
from promptworks_contracts.projects import DEFAULT_PROJECT
from promptworks_eventkit.errors import ConflictError
from run_orchestrator.domain.caching import CachedResponse
from run_orchestrator.domain.commands import LATEST
from run_orchestrator.domain.prompt_version import PromptVersion
from run_orchestrator.handlers.ports import (
    QUEUED,
    UNFINISHED,
    ResultAlreadyRecordedError,
    RunRow,
    StoredProvider,
)


@dataclass
class InMemoryRunRepository:
    versions: dict[UUID, PromptVersion] = field(default_factory=dict)
    labels: dict[tuple[UUID, str], UUID] = field(default_factory=dict)
    providers: dict[UUID, StoredProvider] = field(default_factory=dict)
    cache: dict[str, tuple[CachedResponse, datetime]] = field(default_factory=dict)
    runs: dict[UUID, RunRow] = field(default_factory=dict)
    """In creation order (dicts keep insertion order)."""
    results: dict[UUID, dict[tuple[int, int], UUID]] = field(default_factory=dict)
    """Run id -> (case, repetition) -> result id."""
    failures: dict[UUID, set[tuple[int, int]]] = field(default_factory=dict)
    """Run id -> the pairs whose result is an error."""

    async def add_versions(
        self, versions: Sequence[PromptVersionCreated], project: str = DEFAULT_PROJECT
    ) -> None:
        for event in versions:
            version = PromptVersion.model_validate(event, from_attributes=True)
            self.versions.setdefault(
                event.version_id, version.model_copy(update={"project_id": project})
            )

    async def find_version(self, version_id: UUID) -> PromptVersion | None:
        return self.versions.get(version_id)  # immutable: no copy needed

    async def move_label(self, prompt_id: UUID, label: str, version_id: UUID) -> None:
        self.labels[(prompt_id, label)] = version_id

    async def remove_label(self, prompt_id: UUID, label: str) -> None:
        self.labels.pop((prompt_id, label), None)

    async def resolve_label(self, prompt_id: UUID, label: str) -> UUID | None:
        if label != LATEST:
            return self.labels.get((prompt_id, label))
        numbered = [
            (v.number, v.version_id) for v in self.versions.values() if v.prompt_id == prompt_id
        ]
        return max(numbered)[1] if numbered else None

    async def add_run(self, run_id: UUID, total_calls: int, project: str = DEFAULT_PROJECT) -> None:
        if run_id in self.runs:
            raise ValueError(f"run {run_id} exists")  # the primary key on PostgreSQL
        self.runs[run_id] = RunRow(
            QUEUED, total_calls, recorded=0, succeeded=0, failed=0, project_id=project
        )

    async def find_run(self, run_id: UUID, *, for_update: bool = False) -> RunRow | None:
        # Transactions of the in-memory port are serialized: the row is locked anyway.
        return self.runs.get(run_id)  # frozen: no copy needed

    async def request_cancel(self, run_id: UUID, actor: str) -> None:
        if run_id in self.runs:
            self.runs[run_id] = replace(self.runs[run_id], cancel_requested_by=actor)

    async def set_status(self, run_id: UUID, status: str) -> None:
        if run_id in self.runs:
            self.runs[run_id] = replace(self.runs[run_id], status=status)

    async def unfinished_runs(self, limit: int) -> list[UUID]:
        return [run_id for run_id, row in self.runs.items() if row.status in UNFINISHED][:limit]

    async def find_provider(self, name: str, project: str) -> StoredProvider | None:
        return next(
            (
                p
                for p in self.providers.values()
                if p.state.name == name and p.project_id == project
            ),
            None,
        )

    async def list_providers(self, project: str | None = None) -> list[StoredProvider]:
        chosen = [p for p in self.providers.values() if project in (None, p.project_id)]
        return sorted(chosen, key=lambda p: (p.state.name, p.project_id))

    async def save_provider(self, provider: StoredProvider) -> None:
        same_name = await self.find_provider(provider.state.name, provider.project_id)
        if same_name is not None and same_name.provider_id != provider.provider_id:
            raise ConflictError(
                f"provider {provider.state.name!r} exists", field="name", rule="duplicate"
            )
        self.providers[provider.provider_id] = provider

    async def delete_provider(self, provider_id: UUID) -> None:
        self.providers.pop(provider_id, None)

    async def cached_responses(
        self, keys: Sequence[str], not_before: datetime
    ) -> dict[str, CachedResponse]:
        hits = {key: self.cache[key] for key in keys if key in self.cache}
        return {key: answer for key, (answer, at) in hits.items() if at >= not_before}

    async def store_responses(self, entries: Sequence[tuple[str, CachedResponse]]) -> None:
        now = datetime.now(UTC)
        for key, answer in entries:
            self.cache.setdefault(key, (answer, now))

    async def failed_pairs(self, run_id: UUID) -> list[tuple[int, int]]:
        return sorted(self.failures.get(run_id, set()))

    async def recorded_pairs(self, run_id: UUID) -> set[tuple[int, int]]:
        return set(self.results.get(run_id, {}))

    async def record_results(self, run_id: UUID, results: Sequence[ResultRecorded]) -> None:
        done = self.results.setdefault(run_id, {})
        pairs = [(r.case_index, r.repetition) for r in results]
        if len(set(pairs)) < len(pairs) or any(pair in done for pair in pairs):
            raise ResultAlreadyRecordedError(run_id)
        done.update((pair, r.result_id) for pair, r in zip(pairs, results, strict=True))
        failed = {pair for pair, r in zip(pairs, results, strict=True) if r.error is not None}
        self.failures.setdefault(run_id, set()).update(failed)
        row = self.runs.get(run_id)
        if row is not None:
            succeeded = sum(1 for r in results if r.error is None)
            costs = [r.cost.amount for r in results if r.cost is not None]
            self.runs[run_id] = replace(
                row,
                recorded=row.recorded + len(results),
                succeeded=row.succeeded + succeeded,
                failed=row.failed + len(results) - succeeded,
                cost=(row.cost or Decimal(0)) + sum(costs) if costs else row.cost,
            )


@dataclass
class InMemoryRunLocks:
    """The per-run locks of processes sharing this object: a run is held by one at a time."""

    held: set[UUID] = field(default_factory=set)

    async def try_acquire(self, run_id: UUID) -> InMemoryRunLock | None:
        if run_id in self.held:
            return None
        self.held.add(run_id)
        return InMemoryRunLock(self, run_id)


@dataclass
class InMemoryRunLock:
    locks: InMemoryRunLocks
    run_id: UUID

    async def release(self) -> None:
        self.locks.held.discard(self.run_id)


class InMemoryRateLimitStore:
    """The shared rate-limit schedules of ``execution/limits.py`` for one process (tests
    without PostgreSQL): the same arithmetic as the PostgreSQL statement, on the monotonic
    clock."""

    def __init__(self) -> None:
        self.tat: dict[str, float] = {}

    async def reserve(self, key: str, seconds: float) -> tuple[float, float]:
        now = time.monotonic()
        start = max(self.tat.get(key, now), now)
        self.tat[key] = start + seconds
        return start, now

    async def adjust(self, key: str, seconds: float) -> None:
        if key in self.tat:
            self.tat[key] += seconds


class InMemoryEmbeddingCache:
    """``PostgresEmbeddingCache`` in a dict, for unit tests."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[list[float], datetime]] = {}

    async def vectors(self, keys: Sequence[str], not_before: datetime) -> dict[str, list[float]]:
        hits = {key: self.entries[key] for key in keys if key in self.entries}
        return {key: vector for key, (vector, at) in hits.items() if at >= not_before}

    async def store(self, vectors: Mapping[str, Sequence[float]]) -> None:
        now = datetime.now(UTC)
        for key, vector in vectors.items():
            self.entries[key] = (list(vector), now)
