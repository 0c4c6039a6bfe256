"""Benchmark: what pruning the search lexicon costs per metadata edit (ADR 0027, addendum 1).

1. A fresh migrated query-api database gets the prompt list bench's catalogue of prompts
   (``bench.prompt_data``: names, authors, classes, tags; versions and labels left out, they
   hold no words), applied through the projection's router in batches of 2,000.
2. ``--edits`` prompts are renamed one at a time, each edit its own batch and transaction
   through the router (a live consumer at a low edit rate), half of them with a new author:
   first with the GIN indexes' pending lists as the load left them (``fresh``), then as many
   again after ``VACUUM (ANALYZE)`` merged them (``vacuumed``; autovacuum's steady state).
   Every statement is timed at the client (round trip included); the two statements pruning
   adds (the edited prompts' previous words, the deletion) are reported apart, with the
   lexicon's size before and after.

    uv run python -m bench.prompt_words [--prompts 100000] [--edits 300] [--durable]

Uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL_BASE when set, else starts the test stack;
``--durable``: a private PostgreSQL with durable settings. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.prompt_data import FIRST, LAST, OBJECTS, QUALIFIERS, VERBS, prompt_events
from bench.prompt_list import chosen_infra
from promptworks_contracts.events import (
    DomainEvent,
    PromptClassCreated,
    PromptCreated,
    PromptMetadataEdited,
    PromptTagCreated,
)
from promptworks_eventkit.db import asyncpg_dsn, create_engine, create_sessionmaker
from promptworks_eventkit.messages import ReceivedEvent
from query_api.projections import build_router
from query_api.tables import prompt_words
from tests.support.infra import create_database, drop_database, migrate
from tests.support.kafka import envelope_for

BATCH = 2000
PRUNING = {
    "SELECT DISTINCT unnest(prompts.words)": "previous",
    "DELETE FROM prompt_words": "forget",
}


def received(event: DomainEvent, version: int) -> ReceivedEvent:
    return ReceivedEvent(event.topic, 0, 0, envelope_for(event, version), event)


class StatementClock:
    """Client-side time of each statement, by kind (the pruning ones by name, the rest as
    ``other``), while ``on``."""

    def __init__(self) -> None:
        self.on = False
        self.seconds: Counter[str] = Counter()
        self.count: Counter[str] = Counter()

    def reset(self) -> None:
        self.seconds.clear()
        self.count.clear()

    def attach(self, engine: Any) -> None:
        @event.listens_for(engine.sync_engine, "before_cursor_execute")
        def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            conn.info["started"] = time.perf_counter()

        @event.listens_for(engine.sync_engine, "after_cursor_execute")
        def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if not self.on:
                return
            kind = next((k for s, k in PRUNING.items() if statement.startswith(s)), "other")
            self.seconds[kind] += time.perf_counter() - conn.info["started"]
            self.count[kind] += 1


async def lexicon_size(session: AsyncSession) -> int:
    return int((await session.scalar(select(func.count()).select_from(prompt_words))) or 0)


def renaming(created: list[PromptCreated]) -> Callable[[int], PromptMetadataEdited]:
    """The ``n``th edit: a random prompt renamed; every other one with a new author and a new
    number (a word no other prompt has: its previous number, if edited before, is deleted)."""
    rng = random.Random(11)

    def edit(n: int) -> PromptMetadataEdited:
        prompt = rng.choice(created)
        number = prompt.name.rsplit(" ", 1)[1] + (f"r{n}" if n % 2 else "")
        return PromptMetadataEdited(
            prompt_id=prompt.prompt_id,
            name=f"{rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(QUALIFIERS)} {number}",
            author=f"{rng.choice(FIRST)} {rng.choice(LAST)}" if n % 2 else prompt.author,
            class_id=prompt.class_id,
            tag_ids=prompt.tag_ids,
            changed=["name", "author"] if n % 2 else ["name"],
        )

    return edit


async def edit_phase(
    sessions: async_sessionmaker[AsyncSession],
    clock: StatementClock,
    edit: Callable[[int], PromptMetadataEdited],
    first: int,
    edits: int,
) -> dict[str, Any]:
    """``edits`` edits, one per transaction; the time of each and of its statements."""
    router = build_router()
    clock.reset()
    per_edit: list[float] = []
    for n in range(first, first + edits):
        clock.on = True
        t0 = time.perf_counter()
        async with sessions() as session, session.begin():
            await router(session, [received(edit(n), 2 + n)])
        per_edit.append(time.perf_counter() - t0)
        clock.on = False
    ms = {kind: round(1000 * s / edits, 3) for kind, s in clock.seconds.items()}
    mean = 1000 * statistics.fmean(per_edit)
    return {
        "statements_per_edit": {k: round(c / edits, 2) for k, c in clock.count.items()},
        "statement_ms_per_edit": ms,
        "edit_ms_p50": round(1000 * statistics.median(per_edit), 2),
        "edit_ms_mean": round(mean, 2),
        "pruning_share_of_edit": round((ms.get("previous", 0) + ms.get("forget", 0)) / mean, 3),
    }


async def main(prompts: int, edits: int, durable: bool) -> dict[str, Any]:
    with chosen_infra(durable) as infra:
        url = await create_database(infra, "bench_words")
        engine = create_engine(url)
        try:
            await migrate("query-api", url)
            sessions = create_sessionmaker(engine)
            router = build_router()
            kept = (PromptClassCreated, PromptTagCreated, PromptCreated)
            catalogue = [e for e in prompt_events(prompts, random.Random(7)) if isinstance(e, kept)]
            started = time.perf_counter()
            for i in range(0, len(catalogue), BATCH):
                async with sessions() as session, session.begin():
                    await router(session, [received(e, 1) for e in catalogue[i : i + BATCH]])
            loaded = time.perf_counter() - started
            created = [e for e in catalogue if isinstance(e, PromptCreated)]
            async with sessions() as session:
                before = await lexicon_size(session)
            clock = StatementClock()
            clock.attach(engine)
            edit = renaming(created)
            fresh = await edit_phase(sessions, clock, edit, 0, edits)
            connection = await asyncpg.connect(asyncpg_dsn(url))
            try:
                await connection.execute("VACUUM (ANALYZE) prompts, prompt_words")
            finally:
                await connection.close()
            vacuumed = await edit_phase(sessions, clock, edit, edits, edits)
            async with sessions() as session:
                after = await lexicon_size(session)
        finally:
            await engine.dispose()
            await drop_database(infra, url)
    return {
        "prompts": prompts,
        "edits_per_phase": edits,
        "catalogue_load_s": round(loaded, 1),
        "lexicon_before": before,
        "lexicon_after": after,
        "fresh": fresh,
        "vacuumed": vacuumed,
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=100_000)
    parser.add_argument("--edits", type=int, default=300)
    parser.add_argument("--durable", action="store_true")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.prompts, args.edits, args.durable)), indent=2))


if __name__ == "__main__":
    cli()
