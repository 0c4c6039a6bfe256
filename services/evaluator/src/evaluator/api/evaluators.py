"""Evaluator definitions' commands (``POST /evaluators``, ``POST /evaluators/{id}/versions``)
and the version lookup other services pin runs with (``GET /evaluators/{id}/versions/{v}``).
Clients read definitions through query-api; these answers carry ``positions`` for its
read-your-writes wait."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from evaluator.handlers.definitions import DefinitionHandlers, DefinitionWritten
from promptworks_contracts.api.evaluators import (
    MAX_VERSION,
    CreateEvaluatorRequest,
    CreateEvaluatorVersionRequest,
    EvaluatorVersionAnswer,
)
from promptworks_eventkit.actor import Actor
from promptworks_eventkit.http import Context, ExpectedVersion, PositionOut, positions_out

router = APIRouter(prefix="/evaluators", tags=["evaluators"])


class EvaluatorWritten(BaseModel):
    evaluator_id: UUID
    name: str
    latest_version: int
    stream_version: int
    positions: list[PositionOut]


def _handlers(request: Request) -> DefinitionHandlers:
    handlers: DefinitionHandlers = request.app.state.definitions
    return handlers


def _answer(written: DefinitionWritten, response: Response) -> EvaluatorWritten:
    state = written.state
    assert state.evaluator_id is not None
    response.headers["ETag"] = f'"{state.stream_version}"'
    return EvaluatorWritten(
        evaluator_id=state.evaluator_id,
        name=state.name,
        latest_version=state.latest,
        stream_version=state.stream_version,
        positions=positions_out(written.positions),
    )


@router.post("", status_code=201)
async def create_evaluator(
    request: Request,
    response: Response,
    context: Context,
    actor: Actor,
    body: CreateEvaluatorRequest,
) -> EvaluatorWritten:
    written = await _handlers(request).create(
        body.name, body.description, body.assertions, body.message, actor, context
    )
    return _answer(written, response)


@router.post("/{evaluator_id}/versions", status_code=201)
async def create_evaluator_version(
    request: Request,
    response: Response,
    context: Context,
    actor: Actor,
    expected: ExpectedVersion,
    evaluator_id: UUID,
    body: CreateEvaluatorVersionRequest,
) -> EvaluatorWritten:
    written = await _handlers(request).add_version(
        evaluator_id, body.assertions, body.message, actor, expected, context
    )
    return _answer(written, response)


@router.get("/{evaluator_id}/versions/{version}")
async def evaluator_version(
    request: Request,
    context: Context,
    evaluator_id: UUID,
    version: Annotated[
        Annotated[int, Field(ge=1, le=MAX_VERSION)] | Literal["latest"],
        Path(description="A version number or `latest`"),
    ],
) -> EvaluatorVersionAnswer:
    number, assertions = await _handlers(request).version(
        evaluator_id, None if version == "latest" else version, context
    )
    return EvaluatorVersionAnswer(evaluator_id=evaluator_id, version=number, assertions=assertions)
