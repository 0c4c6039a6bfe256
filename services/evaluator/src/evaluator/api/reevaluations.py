"""``POST /runs/{run_id}/evaluations``: re-evaluate a finished run with an evaluator version
(``handlers/reevaluation.py``). 202 with the new evaluation's id (the worker evaluates it);
200 with the earlier one's when this run was re-evaluated with this version already."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from evaluator.handlers.reevaluation import Reevaluations
from promptworks_contracts.api.evaluators import ReevaluateRequest
from promptworks_contracts.values import EvaluatorPin
from promptworks_eventkit.actor import Actor
from promptworks_eventkit.http import Context, PositionOut, positions_out

router = APIRouter(prefix="/runs", tags=["evaluation"])


class ReevaluationAnswer(BaseModel):
    evaluation_id: UUID
    run_id: UUID
    evaluator: EvaluatorPin
    created: bool = Field(description="False: the same evaluation, asked for before.")
    positions: list[PositionOut]


@router.post("/{run_id}/evaluations", status_code=202)
async def reevaluate(
    run_id: UUID,
    body: ReevaluateRequest,
    request: Request,
    response: Response,
    context: Context,
    actor: Actor,
) -> ReevaluationAnswer:
    reevaluations: Reevaluations = request.app.state.reevaluations
    accepted = await reevaluations.request(run_id, body, actor, context)
    if not accepted.created:
        response.status_code = 200
    return ReevaluationAnswer(
        evaluation_id=accepted.evaluation_id,
        run_id=accepted.run_id,
        evaluator=accepted.evaluator,
        created=accepted.created,
        positions=positions_out(accepted.positions),
    )
