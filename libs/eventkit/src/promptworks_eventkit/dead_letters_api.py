"""The operator's dead-letter routes, the same in every consuming service (``/admin/...``).

query-api serves the public, aggregated view (``/api/v1/admin/dead-letters``) and forwards a
replay to the service that owns the letter. The ``admin`` prefix is where the API keys' ``admin``
scope applies.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from promptworks_eventkit.actor import Actor
from promptworks_eventkit.dead_letters import (
    AlreadyReplayedError,
    DeadLetter,
    DeadLetterNotFoundError,
    DeadLetters,
    ReplayFailedError,
    ReplayRefusedError,
)
from promptworks_eventkit.errors import ConflictError, DomainError, NotFoundError

ADMIN_DEAD_LETTERS = "/admin/dead-letters"


class DeadLetterOut(BaseModel):
    id: int = Field(description="Unique within the service that holds it")
    service: str = Field(description="The service whose consumer dead-lettered the event")
    consumer: str
    topic: str
    partition: int
    offset: int
    event_id: str | None = Field(description="ce_id; null when the record had none")
    event_type: str | None
    reason: str = Field(description="Why the consumer could not apply it")
    recorded_at: datetime
    status: Literal["open", "replayed"]
    replayed_at: datetime | None
    replayed_by: str | None
    replay_error: str | None = Field(
        description="Why the last replay failed (the letter stays open); null otherwise"
    )


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    total: int = Field(description="Letters matching the filters, over all pages")


class ReplayFailure(BaseModel):
    service: str
    id: int
    reason: str


class ReplayAllOut(BaseModel):
    replayed: list[DeadLetterOut]
    failed: list[ReplayFailure] = Field(
        description="Still failing, or refused (cannot be replayed correctly); they stay open"
    )


def letter_out(service: str, letter: DeadLetter) -> DeadLetterOut:
    return DeadLetterOut(
        id=letter.id,
        service=service,
        consumer=letter.consumer,
        topic=letter.topic,
        partition=letter.partition,
        offset=letter.offset,
        event_id=letter.event_id,
        event_type=letter.event_type,
        reason=letter.error,
        recorded_at=letter.recorded_at,
        status="replayed" if letter.replayed_at is not None else "open",
        replayed_at=letter.replayed_at,
        replayed_by=letter.replayed_by,
        replay_error=letter.replay_error,
    )


StatusFilter = Annotated[
    Literal["open", "replayed", "all"], Query(description="open (default), replayed or all")
]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
ConsumerFilter = Annotated[str | None, Query(max_length=200)]
LetterId = Annotated[int, Path(ge=1, le=2**63 - 1)]


async def replay_one(
    service: str, letters: DeadLetters, letter_id: int, actor: str
) -> DeadLetterOut:
    try:
        return letter_out(service, await letters.replay(letter_id, actor or "operator"))
    except DeadLetterNotFoundError as error:
        raise NotFoundError(f"no dead letter {letter_id}", field="id") from error
    except AlreadyReplayedError as error:
        raise ConflictError(f"dead letter {letter_id} was replayed already", field="id") from error
    except ReplayRefusedError as error:
        raise ConflictError(
            f"dead letter {letter_id} cannot be replayed; it stays open: {error}",
            field="id",
            rule="replay_refused",
        ) from error
    except ReplayFailedError as error:
        raise DomainError(
            f"replay of dead letter {letter_id} failed; it stays open: {error}",
            field="id",
            rule="replay_failed",
        ) from error


async def replay_all(
    service: str, letters: DeadLetters, consumer: str | None, actor: str
) -> ReplayAllOut:
    out = ReplayAllOut(replayed=[], failed=[])
    for letter_id in await letters.open_ids(consumer):
        try:
            letter = await letters.replay(letter_id, actor or "operator")
        except (AlreadyReplayedError, DeadLetterNotFoundError):
            continue  # closed meanwhile (a copy of an event replayed just before, or elsewhere)
        except (ReplayFailedError, ReplayRefusedError) as error:
            out.failed.append(ReplayFailure(service=service, id=letter_id, reason=str(error)))
            continue
        out.replayed.append(letter_out(service, letter))
    return out


def dead_letters_router(service: str, letters_of: Callable[[], DeadLetters]) -> APIRouter:
    router = APIRouter(prefix=ADMIN_DEAD_LETTERS, tags=["admin"])

    @router.get("", response_model=DeadLetterPage, summary="Dead letters, oldest first")
    async def list_letters(
        status: StatusFilter = "open",
        consumer: ConsumerFilter = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> DeadLetterPage:
        items, total = await letters_of().page(
            status=status, consumer=consumer, limit=limit, offset=offset
        )
        return DeadLetterPage(items=[letter_out(service, i) for i in items], total=total)

    @router.post("/replay", response_model=ReplayAllOut, summary="Replay every open letter")
    async def replay_every(actor: Actor, consumer: ConsumerFilter = None) -> ReplayAllOut:
        return await replay_all(service, letters_of(), consumer, actor)

    @router.get("/{letter_id}", response_model=DeadLetterOut, summary="One dead letter")
    async def get_letter(letter_id: LetterId) -> DeadLetterOut:
        try:
            return letter_out(service, await letters_of().get(letter_id))
        except DeadLetterNotFoundError as error:
            raise NotFoundError(f"no dead letter {letter_id}", field="id") from error

    @router.post(
        "/{letter_id}/replay",
        response_model=DeadLetterOut,
        summary="Replay one letter through its consumer (exactly once in effect)",
    )
    async def replay_letter(letter_id: LetterId, actor: Actor) -> DeadLetterOut:
        return await replay_one(service, letters_of(), letter_id, actor)

    return router
