"""An evaluator definition folded from its stream: name, description, versions.

Rules: a version's number is the stream's count of versions + 1 (no gaps); a new version must
differ from the latest (re-sending the same assertions adds nothing, so a retried request does
not make a second version).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

from promptworks_contracts.events import (
    DomainEvent,
    EvaluatorCreated,
    EvaluatorVersionCreated,
)
from promptworks_contracts.values import Assertion


@dataclass
class EvaluatorDefinition:
    evaluator_id: UUID | None = None
    name: str = ""
    description: str = ""
    versions: list[list[Assertion]] = field(default_factory=list)
    stream_version: int = 0

    @classmethod
    def from_events(cls, events: Sequence[DomainEvent]) -> EvaluatorDefinition:
        state = cls()
        for event in events:
            state.apply(event)
        return state

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, EvaluatorCreated):
            self.evaluator_id = event.evaluator_id
            self.name, self.description = event.name, event.description
        elif isinstance(event, EvaluatorVersionCreated):
            self.versions.append(list(event.assertions))
        self.stream_version += 1

    @property
    def latest(self) -> int:
        return len(self.versions)


def create(
    evaluator_id: UUID,
    name: str,
    description: str,
    assertions: list[Assertion],
    message: str,
    actor: str,
) -> list[DomainEvent]:
    return [
        EvaluatorCreated(
            evaluator_id=evaluator_id, name=name, description=description, actor=actor
        ),
        EvaluatorVersionCreated(
            evaluator_id=evaluator_id,
            version=1,
            assertions=assertions,
            message=message,
            actor=actor,
        ),
    ]


def add_version(
    state: EvaluatorDefinition, assertions: list[Assertion], message: str, actor: str
) -> list[DomainEvent]:
    """The new version's event; none when the assertions equal the latest version's."""
    assert state.evaluator_id is not None
    if state.versions and _dumped(state.versions[-1]) == _dumped(assertions):
        return []
    return [
        EvaluatorVersionCreated(
            evaluator_id=state.evaluator_id,
            version=state.latest + 1,
            assertions=assertions,
            message=message,
            actor=actor,
        )
    ]


def _dumped(assertions: list[Assertion]) -> list[dict[str, object]]:
    return [a.model_dump(mode="json") for a in assertions]
