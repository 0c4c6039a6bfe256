"""A run against a baseline run on the same cases (``GET /test_prompt/{run_id}/compare``), and
every cell of a batch against one of its cells (``GET /batches/{batch_id}/compare``)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query

from promptworks_eventkit.errors import DomainError, NotFoundError
from query_api.api.deps import Project, ReadSession
from query_api.api.ownership import RUNS_AND_BATCHES, check_owner
from query_api.api.result_params import EvaluationParam
from query_api.queries import comparisons as queries
from query_api.queries.evaluation_sources import choose
from query_api.queries.runs import run_exists
from query_api.schemas.comparisons import BatchComparisonOut, ComparisonOut
from query_api.tables import runs

router = APIRouter(tags=["comparisons"], dependencies=RUNS_AND_BATCHES)

Alpha = Annotated[float, Query(gt=0.0, lt=1.0, description="Significance level of the tests")]
MaxDrop = Annotated[
    float,
    Query(
        ge=0.0,
        le=1.0,
        description="A significant fall of the pass rate larger than this is a regression",
    ),
]


@router.get(
    "/test_prompt/{run_id}/compare",
    response_model=ComparisonOut,
    summary="Compare a run with a baseline run: deltas, significance, flipped cases, verdict",
)
async def compare(
    session: ReadSession,
    project: Project,
    run_id: Annotated[UUID, Path(description="The candidate run")],
    baseline: Annotated[UUID, Query(description="The baseline run")],
    alpha: Alpha = 0.05,
    max_pass_rate_drop: MaxDrop = 0.0,
    evaluation: EvaluationParam = None,
    baseline_evaluation: Annotated[
        UUID | None,
        Query(description="Which evaluation of the baseline run; default: its latest"),
    ] = None,
) -> ComparisonOut:
    """Results pair by (case_index, repetition). Pass/fail: exact McNemar test; every numeric
    metric (latency, tokens, similarity scores, judge scores ...): mean paired difference with
    a 95 % paired bootstrap interval. `regressed` is what a CI job gates on. Each side reads
    one evaluation of its run (default: the latest); the same run under two evaluations shows
    what a new evaluator changed."""
    await check_owner(session, project, runs, "run_id", baseline, "test run", "baseline")
    for field, run in (("run_id", run_id), ("baseline", baseline)):
        if not await run_exists(session, run):
            raise NotFoundError(f"test run {run} does not exist", field=field)
    comparison = await queries.compare_runs(
        session,
        run_id,
        baseline,
        alpha=alpha,
        max_pass_rate_drop=max_pass_rate_drop,
        evaluation=await choose(session, run_id, evaluation),
        baseline_evaluation=await choose(
            session, baseline, baseline_evaluation, "baseline_evaluation"
        ),
    )
    if comparison is None:
        raise DomainError(
            "the runs have no result of the same (case_index, repetition) to compare",
            field="baseline",
            rule="no_common_results",
        )
    return comparison


@router.get(
    "/batches/{batch_id}/compare",
    response_model=BatchComparisonOut,
    summary="Compare every cell of a batch with one of its cells",
)
async def compare_batch(
    session: ReadSession,
    batch_id: Annotated[UUID, Path(description="The batch")],
    baseline: Annotated[UUID, Query(description="The run of the baseline cell")],
    alpha: Alpha = 0.05,
    max_pass_rate_drop: MaxDrop = 0.0,
) -> BatchComparisonOut:
    """Each cell as `GET /test_prompt/{run_id}/compare?baseline=` would answer it (the cells
    share the batch's cases); `regressed` when any cell regressed."""
    cells = await queries.batch_cells(session, batch_id)
    if cells is None:
        raise NotFoundError(f"batch {batch_id} does not exist", field="batch_id")
    if baseline not in cells:
        raise DomainError(
            f"run {baseline} is not a cell of batch {batch_id}",
            field="baseline",
            rule="not_a_cell",
        )
    return await queries.compare_cells(
        session, batch_id, cells, baseline, alpha=alpha, max_pass_rate_drop=max_pass_rate_drop
    )
