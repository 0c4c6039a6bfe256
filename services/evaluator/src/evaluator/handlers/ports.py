"""What the evaluator's handlers need from storage, free of any framework: the runs it has seen
and their running statistics. ``adapters/postgres.py`` implements it on the consumer batch's
session, ``adapters/memory.py`` in memory for tests without infrastructure.

Invariants every implementation keeps:
- a run is stored once, from its ``RunCreated``; its spec (assertions, cases) and
  ``total_calls`` never change afterwards: inserting a run already stored keeps the stored one;
- ``stream_version`` is the version of the run's EVALUATION stream (the events this service
  appended), ``recorded`` the number of results queued for evaluation, ``evaluated`` the
  number evaluated so far; ``status`` is ``running`` until the run's end, then ``completed``,
  ``failed`` or ``cancelled`` (``RunEvaluated`` is appended exactly when it leaves
  ``running``). An end seen while ``evaluated < recorded`` waits in ``ending`` (with its
  event's context) for the worker that evaluates the last result (ADR 0022);
- a result is queued once (with its ``ResultRecorded`` kept for re-evaluation), taken by one
  worker transaction at a time (``claim_queued`` locks and removes it: a rollback puts it back);
- ``load_states(..., lock=True)`` locks the runs' rows until the transaction ends, in run id
  order (no deadlock between replicas): appends to a run's evaluation stream and its counters
  are made under that lock;
- statistics per (run, metric) only grow by ``add_stats``, which merges a batch's deltas into
  the stored ones (``MetricStats.merge``: min/max ignore missing values);
- loaded states and statistics are the caller's copies: changing them stores nothing until
  ``save_states`` / ``add_stats``;
- outcomes (what the run's statistics need of each result) are stored once per result: adding
  one already stored keeps the stored one;
- every method is ONE round trip for the whole batch (the evaluator evaluates thousands of
  results a second).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from evaluator.domain.run_statistics import ResultOutcome
from evaluator.domain.stats import RunStats
from promptworks_contracts.api.completions import CompletionCallAnswer, CompletionCallRequest
from promptworks_contracts.api.embeddings import EmbeddingCallAnswer, EmbeddingCallRequest
from promptworks_contracts.events import ResultRecorded
from promptworks_contracts.projects import DEFAULT_PROJECT
from promptworks_contracts.values import Assertion
from promptworks_eventkit.messages import MessageContext

RUNNING: Final = "running"
REQUESTED: Final = "requested"
"""A re-evaluation asked for, its results not queued yet (``evaluations.status``)."""
QUEUED: Final = "queued"
"""A re-evaluation whose results are queued (``evaluations.status``)."""
EVALUATED: Final = "evaluated"
"""A re-evaluation whose summary is appended (``evaluations.status``)."""


@dataclass
class RunState:
    """The mutable part of a stored run."""

    run_id: str
    total_calls: int
    evaluated: int
    stream_version: int
    status: str
    recorded: int = 0
    ending: str | None = None
    """The end status seen while results were still being evaluated (then still ``running``)."""
    end_context: MessageContext | None = None
    """The context of the end event in ``ending``: its summary's correlation and cause."""


@dataclass(frozen=True)
class Queued:
    """A recorded result waiting for evaluation, with the context of its ``ResultRecorded``
    (of a re-evaluation's request, for a re-evaluation's result)."""

    record: ResultRecorded
    context: MessageContext
    origin: Origin | None
    """Where its ``ResultRecorded`` came from (None: queued for a re-evaluation)."""
    seq: int = 0
    """Its place in the queue (0 before it is queued)."""
    evaluation_id: str | None = None
    """The re-evaluation it is queued for (None: the run's first evaluation)."""


class UnreadableClaim(Exception):
    """A claim's kept records could not be read back (one does not decode): the claim rolls
    back, and its results are taken one at a time like any claim that failed."""

    def __init__(self, seqs: Sequence[int], error: Exception) -> None:
        super().__init__(f"kept records of a claim do not decode: {error!r}")
        self.seqs = list(seqs)


@dataclass
class EvaluationState:
    """The mutable part of a re-evaluation queued over the workers (ADR 0022, addendum):
    ``queued`` results, of which ``evaluated`` and ``failed`` (dead-lettered) so far; its
    summary is appended when they add up, and ``status`` becomes ``evaluated``. Changed only
    under its run row's lock."""

    evaluation_id: str
    run_id: str
    status: str
    queued: int
    evaluated: int
    failed: int
    context: MessageContext
    """Its request's context: the correlation, trace and project of the events it causes."""

    @property
    def complete(self) -> bool:
        return self.status == QUEUED and self.evaluated + self.failed >= self.queued


class RecentRecords:
    """The results this process's consumer queued, as it decoded them, for this process's
    workers: a claim of one of them takes it from here instead of decoding its kept record a
    second time. Filled after the consumer's batch committed; a result's record never changes
    (its id is new when it is recorded; a redelivery or a replay carries the same event), so
    the one here is the one kept. Bounded by count and output size, the oldest out first: the
    results another replica's workers claimed are never taken from here and age out (a claim
    that misses decodes the kept record, as for another replica's results)."""

    # Workers claim within moments of the consumer's commit: a few claims' worth is enough,
    # and a decoded record costs a few KB of the process's memory for as long as it is kept.
    def __init__(self, capacity: int = 5_000, max_chars: int = 8_000_000) -> None:
        self._capacity = capacity
        self._max_chars = max_chars
        self._chars = 0
        self._records: dict[str, ResultRecorded] = {}

    def add(self, records: Iterable[ResultRecorded]) -> None:
        kept = self._records
        for record in records:
            result_id = str(record.result_id)
            self.take(result_id)  # a redelivered one: counted once, as the newest
            kept[result_id] = record
            self._chars += len(record.output or "")
            while len(kept) > self._capacity or self._chars > self._max_chars:
                self.take(next(iter(kept)))

    def take(self, result_id: str) -> ResultRecorded | None:
        record = self._records.pop(result_id, None)
        if record is not None:
            self._chars -= len(record.output or "")
        return record

    def __len__(self) -> int:
        return len(self._records)


@dataclass(frozen=True)
class Origin:
    """Where a queued result's ``ResultRecorded`` came from: enough to dead-letter it."""

    event_id: str
    partition: int
    offset: int
    stream_version: int


@dataclass(frozen=True)
class RunSpec:
    """The immutable part of a stored run: what to evaluate."""

    assertions: list[Assertion]
    cases: list[dict[str, Any]]
    expected: list[Any] = field(default_factory=list)
    """Per case, its expected output or None (empty when no case gives one)."""
    project: str = DEFAULT_PROJECT
    """The run's project: its judges use that project's providers."""


@dataclass(frozen=True)
class NewRun:
    """A run as its ``RunCreated`` introduces it (nothing evaluated yet, ``running``)."""

    run_id: str
    spec: RunSpec
    total_calls: int
    subject: dict[str, Any] | None = None
    """What the run asked its model (prompt, template, model, parameters), for advice."""


class EvaluationRepository(Protocol):
    async def insert_runs(self, new_runs: Sequence[NewRun]) -> None:
        """Stores new runs; a run already stored keeps its row (its spec never changes)."""
        ...

    async def load_states(
        self, run_ids: Collection[str], *, lock: bool = False
    ) -> dict[str, RunState]:
        """The states of the stored runs among ``run_ids`` (unknown ids are left out); with
        ``lock`` their rows stay locked until the transaction ends."""
        ...

    async def load_specs(self, run_ids: Collection[str]) -> dict[str, RunSpec]:
        """The specs of the stored runs among ``run_ids`` (unknown ids are left out)."""
        ...

    async def save_states(self, states: Iterable[RunState]) -> None:
        """Stores ``evaluated``, ``stream_version``, ``status``, ``ending`` and
        ``end_context`` of runs already stored (``recorded`` moves by ``queue_results``)."""
        ...

    async def save_evaluated(
        self,
        states: Iterable[RunState],
        deltas: Mapping[str, RunStats],
        outcomes: Sequence[ResultOutcome],
    ) -> None:
        """A claim's writes at once: ``save_states``; a batch's statistics (run id -> metric
        name -> delta) merged into the stored ones; the outcomes of evaluated results stored
        (one already stored is kept). Any of the three may be empty."""
        ...

    async def load_stats(self, run_ids: Collection[str]) -> dict[str, RunStats]:
        """The stored statistics of ``run_ids`` (runs without any are left out)."""
        ...

    async def load_outcomes(self, run_ids: Collection[str]) -> dict[str, list[ResultOutcome]]:
        """Every stored outcome of ``run_ids`` (runs without any are left out)."""
        ...

    async def queue_results(self, queued: Sequence[Queued]) -> dict[str, int]:
        """Keeps recorded results (for re-evaluation too) and queues them for the workers;
        adds to each run's ``recorded``. A result already kept is neither kept nor queued
        again. Returns run id -> how many were queued now."""
        ...

    async def claim_queued(self, limit: int, recent: RecentRecords | None = None) -> list[Queued]:
        """Takes up to ``limit`` queued results (oldest first, none parked, none another
        transaction holds) out of the queue for this transaction; a record found in
        ``recent`` is taken from there, not read and decoded again (only the others' kept
        records are read: a second round trip, when there are any)."""
        ...

    async def record_failure(self, seq: int, error: str, dead_after: int) -> bool:
        """Counts a failed evaluation of this queued result (taken alone); once it failed
        ``dead_after`` times it becomes a dead letter of the runs consumer (an operator
        replays it once fixed) and leaves the queue, its kept record and its run's
        ``recorded``. True when it did."""
        ...

    async def finished_runs(self, limit: int) -> list[str]:
        """Runs whose end waits although every queued result is evaluated (a result became a
        dead letter meanwhile), locked (skipping those another transaction holds)."""
        ...

    async def forget_judgements(self, keys: Sequence[str]) -> None:
        """Drops judgements kept (``JudgementStore``) under these keys, in this transaction:
        once it commits they are not needed again."""
        ...

    async def load_evaluations(self, evaluation_ids: Collection[str]) -> dict[str, EvaluationState]:
        """The re-evaluations among ``evaluation_ids``, their rows locked until the transaction
        ends (in id order; the caller holds their runs' rows already: runs first, always)."""
        ...

    async def save_evaluations(self, states: Iterable[EvaluationState]) -> None:
        """Stores ``status``, ``evaluated`` and ``failed`` of these re-evaluations."""
        ...

    async def load_evaluation_specs(self, evaluation_ids: Collection[str]) -> dict[str, RunSpec]:
        """What each re-evaluation evaluates: its pinned assertions with its run's cases,
        expected outputs and project (unknown ids are left out)."""
        ...

    async def finished_evaluations(self, limit: int) -> list[tuple[str, str]]:
        """(run id, evaluation id) of queued re-evaluations with nothing left to evaluate (a
        result became a dead letter last), not locked: the caller locks runs first."""
        ...


class CompletionClient(Protocol):
    """A model call made by run-orchestrator for the evaluator (``adapters/completions.py``):
    its shared limits, retries and pricing. Never raises for a failed call: the answer's
    ``error`` says why (also when run-orchestrator could not be reached)."""

    async def complete(self, call: CompletionCallRequest, project: str) -> CompletionCallAnswer: ...


class EmbeddingClient(Protocol):
    """Texts embedded by run-orchestrator for the evaluator (``adapters/completions.py``), with
    the same limits, retries and pricing; never raises (the answer's ``error`` says why)."""

    async def embed(self, call: EmbeddingCallRequest, project: str) -> EmbeddingCallAnswer: ...
