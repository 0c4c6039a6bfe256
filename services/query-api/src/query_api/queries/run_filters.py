"""Filters and orders of the run list beyond status, prompt, version and batch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, UnaryExpression

from query_api.tables import runs

r = runs.c

RunSort = Literal["-created_at", "created_at", "-finished_at", "finished_at", "-cost", "cost"]


@dataclass(frozen=True)
class RunFilter:
    provider: str | None = None
    model_name: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    sort: RunSort = "-created_at"

    def conditions(self) -> list[ColumnElement[Any]]:
        found: list[ColumnElement[Any]] = []
        if self.provider is not None:
            found.append(r.provider == self.provider)
        if self.model_name is not None:
            found.append(r.model_name == self.model_name)
        if self.created_after is not None:
            found.append(r.created_at >= self.created_after)
        if self.created_before is not None:
            found.append(r.created_at < self.created_before)
        return found

    def order(self) -> list[UnaryExpression[Any]]:
        """The sort, then newest first and the id: a total order, so pages never overlap."""
        column = {"created_at": r.created_at, "finished_at": r.finished_at, "cost": r.cost}[
            self.sort.lstrip("-")
        ]
        first = column.desc().nulls_last() if self.sort.startswith("-") else column.asc()
        return [first, r.created_at.desc(), r.run_id.desc()]
