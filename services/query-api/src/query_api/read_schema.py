"""Where the read models live: their own PostgreSQL schema, found through ``search_path``.

The read-model tables (and the projection's checkpoints, ``consumer_offsets`` and
``consumer_stream_positions``, so offsets live with the data they describe) are in schema
``read_models``; query-api's own state (API keys, projects, dead letters, Alembic's version)
stays in ``public``. Every query names tables unqualified, so a connection whose search path
is ``read_models, public`` reads the live models, and ``query-api rebuild`` projects into a
fresh schema by giving its connections another first schema, then renames the schemas to
switch (ADR 0023). Names in ``search_path`` are resolved when a statement is planned, so a
rename reaches every open connection and every cached statement at once.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

LIVE = "read_models"
"""The schema every query-api replica reads and projects into."""
NEXT = "read_models_next"
"""Where a rebuild projects until it switches."""
PREVIOUS = "read_models_previous"
"""The models a rebuild replaced, kept for a rollback (``query-api rebuild --rollback``)."""
OWN = "public"
"""query-api's own state, never rebuilt: API keys, projects, dead letters, Alembic."""

SWAP_FENCE_KEY = 0x5057_5357  # "PWSW"
"""Advisory lock: the live projection holds it shared per batch, a switch exclusively."""
REBUILD_KEY = 0x5057_5242  # "PWRB"
"""Advisory lock: held for a whole rebuild or rollback, so only one runs at a time."""

CHANGES_CHANNEL = "read_models_changed"
"""NOTIFY channel: every transaction that changes the live models names the projects it
changed (``projections.changes``), a switch of schemas names ``EVERY_PROJECT``; the workers'
page caches listen (``pages``). Notifications are delivered at commit, and only then."""
EVERY_PROJECT = "*"
"""The payload of a change to every project's models (a rebuild's switch or its rollback)."""


def search_path(first: str) -> str:
    return f"{first}, {OWN}"


def use_schema(engine: AsyncEngine, first: str) -> None:
    """Every new connection of ``engine`` reads ``first`` (then ``public``), without JIT.

    JIT compiles a query once its estimated cost passes ``jit_above_cost``: tens of ms that
    short API queries never win back (and search plans, see ``prompt_list``, cost a lot on
    paper)."""
    path = search_path(first)

    def configure(dbapi_connection: Any, _: Any) -> None:
        # In autocommit: the driver would run them in a transaction that the pool then rolls
        # back, and a rolled-back SET is undone (SQLAlchemy's documented search_path recipe).
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET SESSION search_path = {path}")
        cursor.execute("SET SESSION jit = off")
        cursor.close()
        dbapi_connection.autocommit = autocommit

    event.listen(engine.sync_engine, "connect", configure, insert=True)
