"""Quick test: one call to try a prompt version with variables on a model, answered whole or
streamed, and recorded as usage (QuickTestCompleted), not as a run.

Everything that can be refused is refused before the call (``prepare``): the version, the
provider, the variables' types, the render. The call's outcome, success or failure, is then
recorded in one write-port transaction. A client that disconnects mid-stream stops the call,
and nothing is recorded for it.

A quick test's call goes through the same ProviderCalls as the runs' calls: the provider's
breaker, concurrency and the requests/min and tokens/min shared by every replica hold for it
too, and it is retried until its first text arrives.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from promptworks_contracts.events import QuickTestCompleted
from promptworks_contracts.projects import DEFAULT_PROJECT
from promptworks_contracts.values import ModelParameters, ModelPricing, ModelRef, TokenUsage
from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.messages import MessageContext
from promptworks_eventkit.writing.port import WritePort
from run_orchestrator.domain.cases import Case
from run_orchestrator.domain.commands import QuickTest
from run_orchestrator.domain.cost import call_cost
from run_orchestrator.domain.planning import FALLBACK_MODEL, case_variables, resolve_parameters
from run_orchestrator.domain.prompt_version import PromptVersion
from run_orchestrator.domain.rendering import Message, render_messages
from run_orchestrator.execution.calls import ProviderCalls
from run_orchestrator.handlers.ports import RunRepository
from run_orchestrator.handlers.versions import await_version
from run_orchestrator.providers.base import Completion, CompletionRequest, ModelProvider
from run_orchestrator.providers.streaming import StreamPart, TextDelta

MAX_ERROR_CHARS = 1000


class QuickTestProviders(Protocol):
    def get(self, project: str, name: str) -> ModelProvider | None: ...

    def names(self, project: str) -> list[str]: ...

    def pricing(self, project: str, model: ModelRef) -> ModelPricing | None: ...


@dataclass(frozen=True)
class PreparedQuickTest:
    quick_test_id: UUID
    version: PromptVersion
    label: str | None
    model: ModelRef
    parameters: ModelParameters
    variables: dict[str, Any]
    messages: list[Message]
    provider: ModelProvider
    pricing: ModelPricing | None


class QuickTests:
    def __init__(
        self,
        port: WritePort[RunRepository],
        providers: QuickTestProviders,
        calls: ProviderCalls,
        *,
        prompt_wait_seconds: float,
    ) -> None:
        self._port = port
        self._providers = providers
        self._calls = calls
        self._wait = prompt_wait_seconds

    async def prepare(
        self, command: QuickTest, project: str = DEFAULT_PROJECT
    ) -> PreparedQuickTest:
        version = await await_version(self._port, command.version, self._wait, project)
        model = command.model or version.default_model or FALLBACK_MODEL
        provider = self._providers.get(project, model.provider)
        if provider is None:
            raise DomainError(
                f"provider {model.provider!r} is not configured; "
                f"configured providers: {self._providers.names(project)}",
                field="provider",
                rule="unknown_provider",
            )
        variables = _variables(version, command.variables)
        try:
            messages = render_messages(version.template, variables)
        except Exception as error:
            raise DomainError(
                f"the prompt cannot be rendered: {error}", field="variables", rule="template_render"
            ) from error
        return PreparedQuickTest(
            quick_test_id=uuid.uuid4(),
            version=version,
            label=command.version.label,
            model=model,
            parameters=resolve_parameters(command.parameters, version),
            variables=variables,
            messages=messages,
            provider=provider,
            pricing=self._providers.pricing(project, model),
        )

    async def run(
        self, test: PreparedQuickTest, actor: str, context: MessageContext, *, streamed: bool
    ) -> AsyncIterator[StreamPart | QuickTestCompleted]:
        """The call's text deltas, then the recorded QuickTestCompleted (also on failure)."""
        request = CompletionRequest(test.model, test.parameters, test.messages, 0, 1)
        started = time.perf_counter()
        completion: Completion | None = None
        error: str | None = None
        try:
            async for part in self._calls.stream(test.provider, request):
                if isinstance(part, TextDelta):
                    yield part
                else:
                    completion = part
        except Exception as failure:  # recorded and answered; never a key (ProviderError)
            error = f"{type(failure).__name__}: {failure}"[:MAX_ERROR_CHARS]
        usage = completion.usage if completion else TokenUsage()
        event = QuickTestCompleted(
            quick_test_id=test.quick_test_id,
            prompt_id=test.version.prompt_id,
            prompt_version_id=test.version.version_id,
            prompt_version_number=test.version.number,
            label=test.label,
            model=test.model,
            parameters=test.parameters,
            variables=test.variables,
            output=completion.output if completion and error is None else None,
            error=error,
            usage=usage,
            cost=call_cost(usage, test.pricing),
            latency_ms=(time.perf_counter() - started) * 1000.0,
            finish_reason=completion.finish_reason if completion else None,
            streamed=streamed,
            actor=actor,
        )
        async with self._port.transaction(context) as tx:
            await tx.append(str(test.quick_test_id), [event], 0)
        yield event


def _variables(version: PromptVersion, given: dict[str, Any]) -> dict[str, Any]:
    """The variables typed and with defaults, as a run's one case; errors name ``variables``."""
    try:
        [variables] = case_variables(version, [Case(variables=given)]) or [{}]
    except DomainError as error:
        field = (error.field or "").replace("cases.0.", "variables.").replace("cases", "variables")
        message = str(error).replace("case 0, variable", "variable").replace("case 0 ", "")
        raise DomainError(message, field=field, rule=error.rule) from error
    return variables
