"""Filters and orders of the run list beyond status, prompt, version and batch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, UnaryExpression

from query_api.queries.conditions import equal_where_given
from query_api.tables import runs

r = runs.c

RunSort = Literal["-created_at", "created_at", "-finished_at", "finished_at", "-cost", "cost"]
DEFAULT_SORT: RunSort = "-created_at"


@dataclass(frozen=True)
class RunFilter:
    provider: str | None = None
    model_name: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    sort: RunSort = DEFAULT_SORT

    def conditions(self) -> list[ColumnElement[Any]]:
        found: list[ColumnElement[Any]] = [
            *equal_where_given((r.provider, self.provider), (r.model_name, self.model_name))
        ]
        if self.created_after is not None:
            found.append(r.created_at >= self.created_after)
        if self.created_before is not None:
            found.append(r.created_at < self.created_before)
        return found

    def order(self, columns: Any = r) -> list[UnaryExpression[Any]]:
        """The sort, then newest first and the id: a total order, so pages never overlap.
        ``columns``: of ``runs`` or of a subquery of it.

        ``created_at`` is never null: sorted on it the order is the index's
        (``ix_runs_created_at``), so a page is an index range, not a sort of every match."""
        name = self.sort.lstrip("-")
        column = columns[name]
        descending = self.sort.startswith("-")
        if name == "created_at":
            first = column.desc() if descending else column.asc()
            return [first, columns.run_id.desc()]
        first = column.desc().nulls_last() if descending else column.asc()
        return [first, columns.created_at.desc(), columns.run_id.desc()]
