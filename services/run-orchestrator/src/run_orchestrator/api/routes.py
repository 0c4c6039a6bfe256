"""run-orchestrator's HTTP commands. Reads (run status, results) are served by query-api."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError

from promptworks_contracts.api.runs import CreateBatchRequest, CreateRunRequest
from promptworks_eventkit.actor import Actor
from promptworks_eventkit.errors import DomainError
from promptworks_eventkit.http import Context, positions_out
from run_orchestrator.api.evaluator_refs import pinned
from run_orchestrator.api.requests import batch_command, run_command
from run_orchestrator.api.schemas import (
    BatchCreatedResponse,
    BatchRunOut,
    CancelRunResponse,
    RunCreatedResponse,
)
from run_orchestrator.domain.batches import CreateBatch
from run_orchestrator.domain.commands import CreateRun
from run_orchestrator.handlers.commands import RunAccepted, RunCommands

router = APIRouter(tags=["runs"])


async def get_commands(request: Request) -> RunCommands:
    commands: RunCommands = request.app.state.commands
    return commands


async def _command(
    request: Request, body: CreateRunRequest | CreateBatchRequest
) -> CreateRun | CreateBatch:
    """A rule the request schema could not express becomes a clear 422, never a 500. A named
    evaluator version is resolved first and pinned (``api/evaluator_refs.py``)."""
    evaluator = await pinned(request, body)
    try:
        if isinstance(body, CreateRunRequest):
            return run_command(body, evaluator)
        return batch_command(body, evaluator)
    except ValidationError as error:
        first = error.errors()[0]
        raise DomainError(
            first["msg"], field=".".join(str(p) for p in first["loc"]), rule=first["type"]
        ) from error


Commands = Annotated[RunCommands, Depends(get_commands)]


@router.post("/runs", status_code=201, response_model=RunCreatedResponse)
async def create_run(
    request: Request,
    body: CreateRunRequest,
    commands: Commands,
    context: Context,
    response: Response,
) -> RunCreatedResponse:
    command = await _command(request, body)
    assert isinstance(command, CreateRun)
    accepted = await commands.create_run(command, context)
    response.headers["ETag"] = f'"{accepted.stream_version}"'
    return _created(accepted)


def _created(accepted: RunAccepted) -> RunCreatedResponse:
    plan = accepted.plan
    return RunCreatedResponse(
        run_id=accepted.run_id,
        status="queued",
        total_calls=accepted.total_calls,
        prompt_version_id=plan.version.version_id,
        label=plan.label,
        model=plan.model,
        parameters=plan.parameters,
        pricing=plan.pricing,
        estimated_cost=accepted.estimated_cost,
        stream_version=accepted.stream_version,
        positions=positions_out(accepted.positions),
    )


@router.post("/batches", status_code=201, response_model=BatchCreatedResponse)
async def create_batch(
    request: Request, body: CreateBatchRequest, commands: Commands, context: Context
) -> BatchCreatedResponse:
    """Versions x models x parameter sets over one case set: every run created at once."""
    command = await _command(request, body)
    assert isinstance(command, CreateBatch)
    accepted = await commands.create_batch(command, context)
    cells = zip(accepted.batch.cells, accepted.runs, strict=True)
    return BatchCreatedResponse(
        batch_id=accepted.batch.batch_id,
        status="queued",
        total_calls=accepted.batch.total_calls,
        runs=[
            BatchRunOut(
                run_id=cell.run_id,
                prompt_version_id=cell.prompt_version_id,
                prompt_version_number=cell.prompt_version_number,
                model=cell.model,
                parameters=cell.parameters,
                parameter_set=cell.parameter_set,
                total_calls=run.total_calls,
                estimated_cost=run.estimated_cost,
            )
            for cell, run in cells
        ],
        positions=positions_out(accepted.positions),
    )


@router.post("/runs/{run_id}/retry", status_code=201, response_model=RunCreatedResponse)
async def retry_failed(run_id: UUID, commands: Commands, context: Context) -> RunCreatedResponse:
    """A new run (``retry_of``) that makes the finished run's failed calls again."""
    return _created(await commands.retry_failed(run_id, context))


@router.post("/runs/{run_id}/cancel", status_code=202, response_model=CancelRunResponse)
async def cancel_run(
    run_id: UUID, commands: Commands, actor: Actor, context: Context
) -> CancelRunResponse:
    """Stops a run: no new calls within a second; the results already recorded are kept."""
    accepted = await commands.cancel_run(run_id, actor, context)
    return CancelRunResponse(
        run_id=accepted.run_id,
        status="cancelled" if accepted.status == "cancelled" else "cancelling",
        positions=positions_out(accepted.positions),
    )
