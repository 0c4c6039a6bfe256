"""Batches: prompt versions x models x parameter sets over one case set, one run per cell.

Invariants:
- Every cell is planned like a run of its own (``planning.plan_run``): a cell that a run would
  refuse refuses the whole batch, so a batch is created whole or not at all.
- Cells are ordered version-major, then model, then parameter set: cell ``i`` of the event is
  the same cell for every reader.
- At most ``MAX_CELLS`` cells and ``MAX_BATCH_CALLS`` model calls in all.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from itertools import product
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from promptworks_contracts.api.runs import MAX_CASES, MAX_CELLS, MAX_REPETITIONS
from promptworks_contracts.events import BatchCell, BatchCreated, RunCreated
from promptworks_contracts.values import Assertion, EvaluatorPin, ModelRef
from promptworks_eventkit.errors import DomainError
from run_orchestrator.domain.cases import Case
from run_orchestrator.domain.commands import VersionSelector

MAX_BATCH_CALLS = 1_000_000


class CreateBatch(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    versions: list[VersionSelector] = Field(min_length=1, max_length=MAX_CELLS)
    models: list[ModelRef | None] = Field(
        min_length=1, max_length=MAX_CELLS, description="None: the version's default model."
    )
    parameter_sets: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_CELLS)
    repetitions: int = Field(default=1, ge=1, le=MAX_REPETITIONS)
    cases: list[Case] = Field(default_factory=list, max_length=MAX_CASES)
    assertions: list[Assertion] = Field(default_factory=list)
    evaluator: EvaluatorPin | None = Field(
        default=None, description="The evaluator version `assertions` come from."
    )
    notes: str | None = None
    metadata: dict[str, Any] | None = None
    budget: Decimal | None = Field(default=None, gt=0, description="Per run (cell).")
    use_cache: bool = False

    def cell_count(self) -> int:
        return len(self.versions) * len(self.models) * len(self.parameter_sets)


@dataclass(frozen=True)
class CellSpec:
    """Which version, model and parameter set one cell combines (indices into the command)."""

    version: int
    model: int
    parameter_set: int


def cells(command: CreateBatch) -> list[CellSpec]:
    cell_count = command.cell_count()
    if cell_count > MAX_CELLS:
        raise DomainError(
            f"{len(command.versions)} versions x {len(command.models)} models x "
            f"{len(command.parameter_sets)} parameter sets = {cell_count} runs; a batch makes "
            f"at most {MAX_CELLS}",
            field="parameter_sets",
            rule="too_many_cells",
        )
    calls = cell_count * max(1, len(command.cases)) * command.repetitions
    if calls > MAX_BATCH_CALLS:
        raise DomainError(
            f"the batch would make {calls} model calls; at most {MAX_BATCH_CALLS}",
            field="repetitions",
            rule="too_many_calls",
        )
    ranges = (
        range(len(command.versions)),
        range(len(command.models)),
        range(len(command.parameter_sets)),
    )
    return [CellSpec(v, m, p) for v, m, p in product(*ranges)]


def batch_created(
    batch_id: UUID, command: CreateBatch, specs: list[CellSpec], runs: list[RunCreated]
) -> BatchCreated:
    return BatchCreated(
        batch_id=batch_id,
        name=command.name,
        cells=[
            BatchCell(
                run_id=run.run_id,
                prompt_version_id=run.prompt_version_id,
                prompt_version_number=run.prompt_version_number,
                model=run.model,
                parameters=run.parameters,
                parameter_set=spec.parameter_set,
            )
            for spec, run in zip(specs, runs, strict=True)
        ],
        total_calls=sum(run.total_calls for run in runs),
    )
