"""Commands on evaluator definitions: create (with version 1), add a version; and the version
lookup runs and re-evaluations resolve against.

Each command is one write-port transaction: the stream's events and the lookup rows commit
together. Names are unique (``claim``); versions are added under the evaluator row's lock, so
two concurrent writers get consecutive numbers, or a 409 when the client sent ``If-Match``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from evaluator.domain.definition import EvaluatorDefinition, add_version, create
from promptworks_contracts.events import EvaluatorVersionCreated
from promptworks_contracts.values import Assertion
from promptworks_eventkit.errors import ConflictError, NotFoundError, check_expected
from promptworks_eventkit.messages import MessageContext, Position
from promptworks_eventkit.writing.port import WritePort, load_events


class DefinitionLookups(Protocol):
    async def claim(self, evaluator_id: UUID, name: str) -> bool: ...

    async def lock(self, evaluator_id: UUID) -> bool: ...

    async def add_version(
        self, evaluator_id: UUID, version: int, assertions: list[Assertion]
    ) -> None: ...

    async def version(
        self, evaluator_id: UUID, version: int | None
    ) -> tuple[int, list[Assertion]] | None: ...


@dataclass(frozen=True)
class DefinitionWritten:
    state: EvaluatorDefinition
    positions: Sequence[Position]


class DefinitionHandlers:
    def __init__(self, port: WritePort[DefinitionLookups]) -> None:
        self._port = port

    async def create(
        self,
        name: str,
        description: str,
        assertions: list[Assertion],
        message: str,
        actor: str,
        context: MessageContext,
    ) -> DefinitionWritten:
        evaluator_id = uuid.uuid4()
        events = create(evaluator_id, name, description, assertions, message, actor)
        async with self._port.transaction(context) as tx:
            if not await tx.repos.claim(evaluator_id, name):
                raise ConflictError(
                    f"an evaluator named {name!r} exists already", field="name", rule="unique"
                )
            await tx.repos.add_version(evaluator_id, 1, assertions)
            await tx.append(str(evaluator_id), events, 0)
        return DefinitionWritten(EvaluatorDefinition.from_events(events), tx.positions)

    async def add_version(
        self,
        evaluator_id: UUID,
        assertions: list[Assertion],
        message: str,
        actor: str,
        expected: int | None,
        context: MessageContext,
    ) -> DefinitionWritten:
        async with self._port.transaction(context) as tx:
            if not await tx.repos.lock(evaluator_id):
                raise not_found(evaluator_id)
            state = EvaluatorDefinition.from_events(await load_events(tx, str(evaluator_id)))
            check_expected(str(evaluator_id), expected, state.stream_version)
            events = add_version(state, assertions, message, actor)
            for event in events:
                assert isinstance(event, EvaluatorVersionCreated)
                await tx.repos.add_version(evaluator_id, event.version, event.assertions)
                state.apply(event)
            await tx.append(str(evaluator_id), events, state.stream_version - len(events))
        return DefinitionWritten(state, tx.positions)

    async def version(
        self, evaluator_id: UUID, version: int | None, context: MessageContext
    ) -> tuple[int, list[Assertion]]:
        """A version (``None``: the latest) of the context's project's evaluator, to pin; 404
        naming the field when unknown (another project's evaluator is unknown)."""
        async with self._port.transaction(context) as tx:
            found = await tx.repos.version(evaluator_id, version)
        if found is None:
            if version is None:
                raise not_found(evaluator_id)
            raise NotFoundError(
                f"evaluator {evaluator_id} has no version {version}", field="version"
            )
        return found


def not_found(evaluator_id: UUID) -> NotFoundError:
    return NotFoundError(f"evaluator {evaluator_id} does not exist", field="evaluator_id")
