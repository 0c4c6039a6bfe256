"""Events of evaluator definitions (stream id = evaluator id), emitted by the evaluator on the
evaluation topic: a named evaluator and its immutable, numbered versions (1, 2, ... without
gaps). The newest version is the evaluator's ``latest``; earlier ones are kept and stay usable.
"""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import Field

from promptworks_contracts.events.base import DomainEvent
from promptworks_contracts.projects import ProjectScoped
from promptworks_contracts.topics import EVALUATION_EVENTS
from promptworks_contracts.values import Assertion


class _EvaluatorEvent(DomainEvent):
    topic: ClassVar[str] = EVALUATION_EVENTS
    evaluator_id: UUID
    actor: str = Field(default="", description="Who did it.")

    def stream_id(self) -> str:
        return str(self.evaluator_id)


class EvaluatorCreated(_EvaluatorEvent, ProjectScoped):
    event_type: ClassVar[str] = "promptworks.evaluator.created.v1"
    name: str = Field(min_length=1, max_length=200)
    description: str = ""


class EvaluatorVersionCreated(_EvaluatorEvent):
    """An immutable version: what a run pinned to it is evaluated with."""

    event_type: ClassVar[str] = "promptworks.evaluator.version_created.v1"
    version: int = Field(ge=1)
    assertions: list[Assertion]
    message: str = ""
