"""Migration 0012 carries each run's queued-result count from ``runs.recorded`` to its own
table, ``recorded_results``, and back (added to what is in the column) on a downgrade."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from promptworks_eventkit.db import asyncpg_dsn
from tests.support.infra import alembic

pytestmark = pytest.mark.integration

ALEMBIC_INI = Path(__file__).resolve().parents[1] / "alembic.ini"
RUNS = """
    INSERT INTO runs (run_id, assertions, cases, total_calls, evaluated, recorded, ending)
    VALUES ('run-ending', '[]', '[]', 9, 4, 7, 'completed'), ('run-new', '[]', '[]', 3, 0, 0, NULL)
"""


async def test_0012_moves_the_counts_to_their_own_table_and_back(database) -> None:
    url = await database("evaluator")
    await alembic(ALEMBIC_INI, url, "downgrade", "0011")
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute(RUNS)
        await alembic(ALEMBIC_INI, url, "upgrade", "0012")
        moved = await connection.fetch("SELECT run_id, recorded FROM recorded_results")
        assert [tuple(row) for row in moved] == [("run-ending", 7)]  # no row for a zero
        left = await connection.fetch("SELECT run_id, recorded FROM runs ORDER BY run_id")
        assert [tuple(row) for row in left] == [("run-ending", 0), ("run-new", 0)]
        # A replica of the release before, still running, counts in the old column.
        await connection.execute("UPDATE runs SET recorded = 2 WHERE run_id = 'run-new'")
        await alembic(ALEMBIC_INI, url, "downgrade", "0011")
        back = await connection.fetch("SELECT run_id, recorded FROM runs ORDER BY run_id")
        assert [tuple(row) for row in back] == [("run-ending", 7), ("run-new", 2)]
    finally:
        await connection.close()
