"""``POST /runs/{run_id}/advice``: ask a judge model for optimisation advice on a finished run
(``handlers/advice.py``). 202 with the advice's id; the worker asks the model and records
``AdviceGiven`` or ``AdviceFailed``."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import BaseModel

from evaluator.handlers.advice import Advisor
from promptworks_contracts.api.advice import AdviceRequest
from promptworks_eventkit.actor import Actor
from promptworks_eventkit.http import Context, PositionOut, positions_out

router = APIRouter(prefix="/runs", tags=["advice"])


class AdviceAnswer(BaseModel):
    advice_id: UUID
    run_id: UUID
    status: str = "requested"
    positions: list[PositionOut]


@router.post("/{run_id}/advice", status_code=202)
async def ask_for_advice(
    run_id: UUID, body: AdviceRequest, request: Request, context: Context, actor: Actor
) -> AdviceAnswer:
    advisor: Advisor = request.app.state.advisor
    accepted = await advisor.request(run_id, body, actor, context)
    return AdviceAnswer(
        advice_id=accepted.advice_id,
        run_id=accepted.run_id,
        positions=positions_out(accepted.positions),
    )
