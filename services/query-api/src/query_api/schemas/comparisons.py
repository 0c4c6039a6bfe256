"""The comparison of a run with a baseline run (``GET /test_prompt/{id}/compare``)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from promptworks_contracts.values import Interval


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class PassRateComparison(_Out):
    baseline: float | None = Field(description="Pass rate over the paired results")
    candidate: float | None
    delta: float | None = Field(description="candidate - baseline")
    baseline_only: int = Field(description="Pairs that passed in the baseline only (regressions)")
    candidate_only: int = Field(description="Pairs that passed in the candidate only (fixes)")
    p_value: float = Field(description="Exact McNemar test on the discordant pairs, two-sided")
    significant: bool = Field(description="p_value < alpha")


class MetricComparison(_Out):
    name: str
    pairs: int = Field(description="Paired results that both carry a value")
    baseline_mean: float
    candidate_mean: float
    delta: float = Field(description="Mean of the paired differences, candidate - baseline")
    delta_interval: Interval = Field(
        description="95 % interval of `delta`: paired bootstrap up to 2,000 pairs, normal beyond"
    )
    significant: bool = Field(description="The interval excludes 0")


class PairOut(_Out):
    case_index: int
    repetition: int


class ComparisonOut(_Out):
    run_id: UUID
    baseline_run_id: UUID
    pairs: int = Field(description="Results paired by (case_index, repetition)")
    unpaired: int = Field(description="Results of either run without a partner")
    pass_rate: PassRateComparison
    metrics: list[MetricComparison]
    regressions: list[PairOut] = Field(
        description="Pairs that passed in the baseline and fail now (the first 1,000)"
    )
    fixes: list[PairOut] = Field(description="Pairs that failed in the baseline and pass now")
    verdict: Literal["regressed", "improved", "no_significant_change"]
    regressed: bool = Field(
        description="The pass rate fell by more than `max_pass_rate_drop` and significantly "
        "(McNemar p < `alpha`): what a CI job gates on"
    )
    alpha: float
    max_pass_rate_drop: float


class CellComparisonOut(_Out):
    run_id: UUID
    comparison: ComparisonOut | None = Field(
        description="Null for the baseline cell itself, or a cell without results in common"
    )


class BatchComparisonOut(_Out):
    batch_id: UUID
    baseline_run_id: UUID = Field(description="The cell every other cell is compared with")
    cells: list[CellComparisonOut] = Field(description="In the batch's matrix order")
    regressed: bool = Field(description="Some cell regressed against the baseline")
