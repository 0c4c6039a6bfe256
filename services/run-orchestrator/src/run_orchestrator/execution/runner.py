"""Executes one run from its snapshot: RunStarted, every model call, RunCompleted.

Invariants:
- Only (case, repetition) pairs without a recorded result are called, so a resumed run ends
  with exactly ``total_calls`` results and no duplicates.
- Calls run concurrently, at most ``max_concurrency`` at a time per run (a provider may set its
  own limit; the mock allows far more); each call goes through ``ProviderCalls`` (shared
  limits, adaptive concurrency, retries, timeout, circuit breaker: calls.py).
- A failed call (after its retries) is a result with ``error`` set (exception type and
  message, never headers or keys); it does not stop the run. The run completes as failed when
  no call succeeded. An unreachable shared rate limit is not a call failure: it stops the
  run's execution, which resumes later from what was recorded.
- A provider that is not configured any more fails the run with RunFailed.
- Each result carries its cost (usage at the run's snapshotted price); a run stops with
  RunCancelled when asked to or when its spend reaches its budget (see ``stopping``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Protocol

import structlog

from promptworks_contracts.events import (
    ResultRecorded,
    RunCancelled,
    RunCompleted,
    RunCreated,
    RunFailed,
    RunStarted,
)
from promptworks_contracts.values import Money, TokenUsage
from promptworks_eventkit import tracing
from promptworks_eventkit.errors import ConcurrencyConflictError
from run_orchestrator.domain.cost import add, budget_reached, call_cost
from run_orchestrator.domain.rendering import render_messages
from run_orchestrator.execution.caching import cached_result, prefetch
from run_orchestrator.execution.calls import ProviderCalls
from run_orchestrator.execution.limits import RateLimiterUnavailableError
from run_orchestrator.execution.metrics import PROVIDER_COST, label
from run_orchestrator.execution.recorder import ResultRecorder
from run_orchestrator.execution.state import ExecutorPort, RunState, append_lifecycle, load_run
from run_orchestrator.execution.stopping import (
    StopReason,
    StopSignal,
    cancel_when_stopped,
    requested_by,
    watch_cancel_requests,
)
from run_orchestrator.handlers.ports import CANCELLED, QUEUED, RUNNING, UNFINISHED
from run_orchestrator.providers.base import CompletionRequest, ModelProvider, ProviderError
from run_orchestrator.settings import RunOrchestratorSettings

MAX_ERROR_CHARS = 1000


def error_message(error: BaseException) -> str:
    if isinstance(error, ProviderError):
        return str(error)[:MAX_ERROR_CHARS]
    return f"{type(error).__name__}: {error}"[:MAX_ERROR_CHARS]


class Providers(Protocol):
    """The providers a project may use, by name (the registry)."""

    def get(self, project: str, name: str) -> ModelProvider | None: ...


class RunExecution:
    def __init__(
        self,
        port: ExecutorPort,
        providers: Providers,
        settings: RunOrchestratorSettings,
        calls: ProviderCalls | None = None,
    ) -> None:
        self._port = port
        self._providers = providers
        self._settings = settings
        self._calls = calls or ProviderCalls(settings, limiter=None)

    async def execute(self, run_id: uuid.UUID) -> None:
        state = await load_run(self._port, run_id)
        if state is None or state.status not in UNFINISHED:
            return  # finished meanwhile (for example by another replica)
        # In the trace of the request that created the run; its events and model calls
        # (httpx spans) are children of this span, its log lines name its correlation id.
        with (
            tracing.span("run execute", state.context, run_id=str(run_id)) as context,
            structlog.contextvars.bound_contextvars(correlation_id=context.correlation_id),
        ):
            state.context = context
            await self._execute(state)

    async def _execute(self, state: RunState) -> None:
        run_id = state.run_id
        name = state.created.model.provider
        # The run's own project: another project's catalog provider of that name is not its.
        provider = self._providers.get(state.created.project_id, name)
        if provider is None:
            reason = f"provider {name!r} is not configured"
            await self._lifecycle(state, RunFailed(run_id=run_id, reason=reason), "failed")
            return
        if state.status == QUEUED:
            try:
                await self._lifecycle(state, RunStarted(run_id=run_id), RUNNING)
            except ConcurrencyConflictError:
                return  # cancelled while queued: the stream moved on without us
        signal = StopSignal()
        if state.cancel_requested_by is not None:
            signal.stop(requested_by(state.cancel_requested_by))
        self._check_budget(state, signal)
        await self._call_all(state, provider, signal)
        if signal.reason is not None:
            await self._lifecycle(state, self._cancelled(state, signal.reason), CANCELLED)
            return
        status = "completed" if state.succeeded > 0 else "failed"
        completed = RunCompleted(
            run_id=run_id,
            status=status,
            succeeded=state.succeeded,
            failed=state.failed,
            cost=state.spent,
        )
        await self._lifecycle(state, completed, status)

    @staticmethod
    def _cancelled(state: RunState, reason: StopReason) -> RunCancelled:
        return RunCancelled(
            run_id=state.run_id,
            cause=reason.cause,
            reason=reason.reason,
            cancelled_by=reason.by,
            succeeded=state.succeeded,
            failed=state.failed,
            cost=state.spent,
        )

    @staticmethod
    def _check_budget(state: RunState, signal: StopSignal) -> None:
        budget = state.created.budget
        if budget is not None and budget_reached(state.spent, budget):
            spent = state.spent.amount if state.spent else 0
            reason = f"spend {spent} reached the budget of {budget.amount} {budget.currency}"
            signal.stop(StopReason("budget", reason))

    async def _lifecycle(
        self,
        state: RunState,
        event: RunStarted | RunFailed | RunCompleted | RunCancelled,
        status: str,
    ) -> None:
        await append_lifecycle(self._port, state, event, status)

    @staticmethod
    def _pending_pairs(state: RunState) -> Iterator[tuple[int, int]]:
        for pair in state.pairs():
            if pair not in state.done:
                yield pair

    async def _call_all(self, state: RunState, provider: ModelProvider, signal: StopSignal) -> None:
        remaining = state.created.total_calls - len(state.done)
        if remaining <= 0 or signal.reason is not None:
            return
        limit = provider.max_concurrency or self._settings.max_concurrency
        if state.created.use_cache:
            await prefetch(self._port, state, self._settings.response_cache_ttl_seconds)
        work = self._pending_pairs(state)

        async def worker(recorder: ResultRecorder) -> None:
            # Workers share one iterator: next() never suspends, so no pair is taken twice.
            for case_index, repetition in work:
                if signal.reason is not None:
                    return  # stopped: take no new pair (calls in flight are cancelled)
                result = await self._call(state, provider, case_index, repetition, limit)
                state.spent = add(state.spent, result.cost)
                self._check_budget(state, signal)
                await recorder.add(result)

        recorder = ResultRecorder(
            self._port,
            state,
            flush_size=self._settings.flush_size,
            interval=self._settings.flush_interval_ms / 1000.0,
            progress_interval=self._settings.progress_interval_seconds,
        )
        watcher = asyncio.create_task(watch_cancel_requests(self._port, state.run_id, signal))
        stopper: asyncio.Task[None] | None = None
        try:
            # Stopping cancels the workers one by one (not the group), so the recorder still
            # records what finished before the stop.
            async with recorder, asyncio.TaskGroup() as group:
                workers = [
                    group.create_task(worker(recorder)) for _ in range(min(limit, remaining))
                ]
                stopper = asyncio.create_task(cancel_when_stopped(signal, workers))
        finally:
            for task in (watcher, stopper):
                if task is not None:
                    task.cancel()
            await asyncio.gather(watcher, *([stopper] if stopper else []), return_exceptions=True)

    async def _call(
        self,
        state: RunState,
        provider: ModelProvider,
        case_index: int,
        repetition: int,
        concurrency: int,
    ) -> ResultRecorded:
        created = state.created
        hit = cached_result(state, case_index, repetition)
        if hit is not None:
            return hit
        variables = created.cases[case_index] if created.cases else {}
        started = time.perf_counter()
        output: str | None = None
        usage = TokenUsage()
        finish_reason: str | None = None
        error: str | None = None
        try:
            request = CompletionRequest(
                model=created.model,
                parameters=created.parameters,
                messages=render_messages(created.template, variables),
                case_index=case_index,
                repetition=repetition,
            )
            completion = await self._calls.complete(provider, request, concurrency)
            output, usage = completion.output, completion.usage
            finish_reason = completion.finish_reason
        except (asyncio.CancelledError, RateLimiterUnavailableError):
            raise
        except Exception as failure:
            error = error_message(failure)
        cost = call_cost(usage, created.pricing) if error is None else _no_cost(created)
        if error is None and cost is not None and cost.amount:
            model = created.model
            PROVIDER_COST.labels(label(model.provider), label(model.name), cost.currency).inc(
                float(cost.amount)
            )
        return ResultRecorded(
            run_id=state.run_id,
            result_id=uuid.uuid4(),
            case_index=case_index,
            repetition=repetition,
            output=output,
            latency_ms=(time.perf_counter() - started) * 1000.0,
            usage=usage,
            finish_reason=finish_reason,
            error=error,
            cost=cost,
        )


def _no_cost(created: RunCreated) -> Money | None:
    """A failed call is not billed (providers do not charge a refused request)."""
    if created.pricing is None:
        return None
    return Money(amount=Decimal(0), currency=created.pricing.currency)
