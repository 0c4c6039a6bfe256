"""Command handlers of POST /runs and POST /runs/{id}/cancel.

Creating: resolve the version (directly or through a label), the model, its parameters and
price, plan, then append RunCreated and add the executor's run (``queued``) in ONE
transaction, so the executor never sees a run without its snapshot, nor a snapshot it does
not know to execute.

Cancelling: a queued run has no writer yet, so the handler appends RunCancelled itself (with
the stream's expected version: should the executor start it at that moment, one of the two
appends is refused and the handler then takes the running path). A running run belongs to
the executor that holds its lock, the only writer of its stream: the handler marks the run,
and that executor stops it within a second (see execution/stopping.py).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from promptworks_contracts.events import BatchCreated, RunCancelled, RunCreated
from promptworks_contracts.values import (
    Assertion,
    EmbeddingSimilarityAssertion,
    ModelPricing,
    ModelRef,
    Money,
)
from promptworks_eventkit.errors import (
    ConcurrencyConflictError,
    ConflictError,
    DomainError,
    NotFoundError,
)
from promptworks_eventkit.messages import MessageContext, Position
from promptworks_eventkit.writing.port import WritePort
from run_orchestrator.domain.batches import CreateBatch, batch_created, cells
from run_orchestrator.domain.commands import CreateRun, VersionSelector
from run_orchestrator.domain.cost import scaled
from run_orchestrator.domain.planning import (
    FALLBACK_MODEL,
    RunPlan,
    plan_run,
    resolve_model,
    resolve_parameters,
)
from run_orchestrator.domain.prompt_version import PromptVersion
from run_orchestrator.handlers.ports import (
    CANCELLED,
    QUEUED,
    RUNNING,
    UNFINISHED,
    RunRepository,
)
from run_orchestrator.handlers.versions import await_version

CANCEL_ATTEMPTS = 3


class ProviderCatalog(Protocol):
    """Which providers are configured and what their models cost (the registry; its SDK
    clients stay out of here)."""

    def is_configured(self, project: str, name: str) -> bool: ...

    def names(self, project: str) -> list[str]: ...

    def pricing(self, project: str, model: ModelRef) -> ModelPricing | None: ...

    def embeddings_problem(self, project: str, name: str) -> str | None: ...


@dataclass(frozen=True)
class RunAccepted:
    run_id: UUID
    status: str
    total_calls: int
    stream_version: int
    positions: Sequence[Position]
    plan: RunPlan
    estimated_cost: Money | None


@dataclass(frozen=True)
class BatchAccepted:
    batch: BatchCreated
    runs: list[RunCreated]
    positions: Sequence[Position]


@dataclass(frozen=True)
class CancelAccepted:
    run_id: UUID
    status: str
    """``cancelled`` (it was queued) or ``cancelling`` (the executor stops it)."""
    positions: Sequence[Position]


class RunCommands:
    def __init__(
        self,
        port: WritePort[RunRepository],
        providers: ProviderCatalog,
        *,
        prompt_wait_seconds: float,
        on_run_created: Callable[[], None] = lambda: None,
    ) -> None:
        self._port = port
        self._providers = providers
        self._prompt_wait = prompt_wait_seconds
        self._on_run_created = on_run_created

    def _check_provider(self, project: str, model: ModelRef, field: str) -> None:
        # Another project's catalog provider is exactly as unknown as one that never existed.
        if not self._providers.is_configured(project, model.provider):
            raise DomainError(
                f"provider {model.provider!r} is not configured; "
                f"configured providers: {self._providers.names(project)}",
                field=field,
                rule="unknown_provider",
            )

    def _check_embeddings(self, project: str, assertions: Sequence[Assertion]) -> None:
        """An embedding check names a provider of the project that has embeddings: refused
        now, naming the assertion, rather than failing on every result later."""
        for index, assertion in enumerate(assertions):
            if not isinstance(assertion, EmbeddingSimilarityAssertion):
                continue
            field = f"assertions.{index}.provider"
            model = ModelRef(provider=assertion.provider, name=assertion.model)
            self._check_provider(project, model, field)
            problem = self._providers.embeddings_problem(project, assertion.provider)
            if problem is not None:
                raise DomainError(
                    f"assertions.{index} ({assertion.name or assertion.type}): {problem}",
                    field=field,
                    rule="no_embeddings",
                )

    async def create_run(self, command: CreateRun, context: MessageContext) -> RunAccepted:
        version = await self._await_version(command.version, context.project)
        model = resolve_model(command, version)
        self._check_provider(context.project, model, "provider")
        plan = RunPlan(
            version=version,
            model=model,
            parameters=resolve_parameters(command.parameters, version),
            pricing=self._providers.pricing(context.project, model),
            label=command.version.label,
        )
        run_id = uuid.uuid4()
        # Rendering 10,000 cases takes a while: keep the event loop free for running runs.
        created = await asyncio.to_thread(plan_run, run_id, command, plan)
        self._check_embeddings(context.project, created.assertions)
        async with self._port.transaction(context) as tx:
            stream_version = await tx.append(str(run_id), [created], 0)
            await tx.repos.add_run(run_id, created.total_calls, context.project)
        self._on_run_created()
        return RunAccepted(
            run_id,
            QUEUED,
            created.total_calls,
            stream_version,
            tx.positions,
            plan,
            created.estimated_cost,
        )

    async def create_batch(self, command: CreateBatch, context: MessageContext) -> BatchAccepted:
        specs = cells(command)
        versions = [
            await self._await_version(selector, context.project) for selector in command.versions
        ]
        batch_id = uuid.uuid4()
        planned: list[tuple[CreateRun, RunPlan]] = []
        for spec in specs:
            version, selector = versions[spec.version], command.versions[spec.version]
            model = command.models[spec.model] or version.default_model or FALLBACK_MODEL
            self._check_provider(context.project, model, f"models.{spec.model}.provider")
            try:
                parameters = resolve_parameters(command.parameter_sets[spec.parameter_set], version)
            except DomainError as error:
                raise DomainError(
                    str(error),
                    field=f"parameter_sets.{spec.parameter_set}.{error.field}",
                    rule=error.rule,
                ) from error
            run = CreateRun(
                version=selector,
                model=model,
                repetitions=command.repetitions,
                cases=command.cases,
                assertions=command.assertions,
                evaluator=command.evaluator,
                notes=command.notes,
                metadata=command.metadata,
                batch_id=str(batch_id),
                budget=command.budget,
                use_cache=command.use_cache,
            )
            pricing = self._providers.pricing(context.project, model)
            planned.append((run, RunPlan(version, model, parameters, pricing, selector.label)))

        def plan_all() -> list[RunCreated]:
            return [plan_run(uuid.uuid4(), run, plan) for run, plan in planned]

        created = await asyncio.to_thread(plan_all)
        for snapshot in created[:1]:  # the cells share their assertions
            self._check_embeddings(context.project, snapshot.assertions)
        batch = batch_created(batch_id, command, specs, created)
        async with self._port.transaction(context) as tx:
            await tx.append(str(batch_id), [batch], 0)
            for snapshot in created:
                await tx.append(str(snapshot.run_id), [snapshot], 0)
                await tx.repos.add_run(snapshot.run_id, snapshot.total_calls, context.project)
        self._on_run_created()
        return BatchAccepted(batch, created, tx.positions)

    async def retry_failed(self, run_id: UUID, context: MessageContext) -> RunAccepted:
        """A new run (``retry_of``) of the same snapshot that calls only the finished run's
        failed pairs; the finished run stays as it was."""
        async with self._port.transaction() as tx:
            row = await tx.repos.find_run(run_id)
            if row is None or row.project_id != context.project:
                raise NotFoundError(f"run {run_id} does not exist")
            if row.status in UNFINISHED:
                raise ConflictError(
                    f"run {run_id} is still {row.status}: retry it once it finished",
                    rule="run_unfinished",
                )
            [first] = await tx.load(str(run_id), to_version=1)
            pairs = await tx.repos.failed_pairs(run_id)
        snapshot = first.event
        assert isinstance(snapshot, RunCreated)
        if not pairs:
            raise ConflictError(f"run {run_id} has no failed calls", rule="nothing_to_retry")
        version = await self._await_version(
            VersionSelector(prompt_version_id=snapshot.prompt_version_id), context.project
        )
        retry_id = uuid.uuid4()
        created = snapshot.model_copy(
            update={
                "run_id": retry_id,
                "retry_of": run_id,
                "pairs": pairs,
                "total_calls": len(pairs),
                "estimated_cost": scaled(snapshot.estimated_cost, len(pairs), snapshot.total_calls),
            }
        )
        async with self._port.transaction(context) as tx:
            stream_version = await tx.append(str(retry_id), [created], 0)
            await tx.repos.add_run(retry_id, created.total_calls, context.project)
        self._on_run_created()
        plan = RunPlan(
            version, snapshot.model, snapshot.parameters, snapshot.pricing, snapshot.label
        )
        return RunAccepted(
            retry_id, QUEUED, len(pairs), stream_version, tx.positions, plan, created.estimated_cost
        )

    async def cancel_run(self, run_id: UUID, actor: str, context: MessageContext) -> CancelAccepted:
        for attempt in range(1, CANCEL_ATTEMPTS + 1):
            try:
                return await self._cancel_once(run_id, actor, context)
            except ConcurrencyConflictError:
                if attempt == CANCEL_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    async def _cancel_once(
        self, run_id: UUID, actor: str, context: MessageContext
    ) -> CancelAccepted:
        async with self._port.transaction(context) as tx:
            row = await tx.repos.find_run(run_id, for_update=True)
            if row is None or row.project_id != context.project:
                raise NotFoundError(f"run {run_id} does not exist")
            if row.status == QUEUED:
                cancelled = RunCancelled(
                    run_id=run_id,
                    cause="requested",
                    reason="cancelled before it started",
                    cancelled_by=actor or None,
                    succeeded=0,
                    failed=0,
                )
                await tx.append(str(run_id), [cancelled], await tx.version(str(run_id)))
                await tx.repos.set_status(run_id, CANCELLED)
                status = CANCELLED
            elif row.status == RUNNING:
                await tx.repos.request_cancel(run_id, actor)
                status = "cancelling"
            else:
                raise ConflictError(f"run {run_id} is already {row.status}", rule="run_finished")
        return CancelAccepted(run_id, status, tx.positions)

    async def _await_version(self, selector: VersionSelector, project: str) -> PromptVersion:
        return await await_version(self._port, selector, self._prompt_wait, project)
