"""/api/v1/test_prompt/{id}/evaluations: a run's evaluations (the first, made as its results
arrived, and each re-evaluation with an evaluator version); re-evaluation forwarded to the
evaluator. The results, export and compare of a chosen evaluation take ``?evaluation=``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from promptworks_contracts.api.evaluators import ReevaluateRequest
from promptworks_eventkit.errors import NotFoundError
from query_api.api.deps import ReadSession, Settings, Writes
from query_api.api.forwarded import WRITE_RESPONSES, evaluator_run_target
from query_api.api.ownership import owned
from query_api.queries import evaluations as queries
from query_api.queries.runs import run_exists
from query_api.schemas.evaluators import EvaluationOut
from query_api.tables import runs

router = APIRouter(
    prefix="/test_prompt",
    tags=["evaluations"],
    dependencies=[owned(runs, "run_id", "test run")],
)

RunId = Annotated[UUID, Path(description="The run's id")]


def _missing_run(run_id: UUID) -> NotFoundError:
    return NotFoundError(f"test run {run_id} does not exist", field="run_id")


@router.get(
    "/{run_id}/evaluations",
    summary="A run's evaluations: the first, then each re-evaluation (`latest` marks the one "
    "shown by default)",
)
async def list_evaluations(session: ReadSession, run_id: RunId) -> list[EvaluationOut]:
    found = await queries.list_evaluations(session, run_id)
    if not found and not await run_exists(session, run_id):
        raise _missing_run(run_id)
    return found


@router.get("/{run_id}/evaluations/{evaluation_id}", summary="One evaluation with its summary")
async def get_evaluation(session: ReadSession, run_id: RunId, evaluation_id: UUID) -> EvaluationOut:
    found = await queries.get_evaluation(session, run_id, evaluation_id)
    if found is None:
        if not await run_exists(session, run_id):
            raise _missing_run(run_id)
        raise NotFoundError(
            f"run {run_id} has no evaluation {evaluation_id}", field="evaluation_id"
        )
    return found


@router.post(
    "/{run_id}/evaluations",
    status_code=202,
    response_model=EvaluationOut,
    summary="Re-evaluate a finished run with an evaluator version (no model is called again)",
    responses={
        **WRITE_RESPONSES,
        200: {"description": "This run was re-evaluated with this version before: that one"},
        409: {
            "description": "The run is not finished (`run_unfinished`) or its results were not "
            "kept (`results_not_kept`)"
        },
    },
)
async def reevaluate(
    request: Request, writes: Writes, settings: Settings, run_id: RunId, body: ReevaluateRequest
) -> Response:
    """202: accepted, `status` `requested` until the evaluator has evaluated every result
    again (then `evaluated`, and it becomes the run's latest). The earlier evaluations are
    kept. The same run and version again: 200 with the evaluation already made."""

    async def read(session: AsyncSession, evaluation_id: UUID) -> EvaluationOut | None:
        return await queries.get_evaluation(session, run_id, evaluation_id)

    target = evaluator_run_target(settings, run_id, "evaluations", read, "evaluation_id")
    return await writes.forward(request, target)
