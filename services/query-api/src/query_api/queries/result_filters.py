"""Filters of a run's results, shared by the paged list and the NDJSON export.

A result ``passed`` when its call succeeded and none of its checks failed (a metric whose
``passed`` is false); until its metrics are applied it counts as passed if the call succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, not_, select

from query_api.queries.evaluation_sources import FIRST, EvaluationSource
from query_api.tables import results

res = results.c


@dataclass(frozen=True)
class ResultFilter:
    passed: bool | None = None
    """True: passed results only; False: failed calls and results with a failed check."""
    failed_check: str | None = None
    """Only results where the check (metric) of this name failed."""
    case_index: int | None = None
    q: str | None = None
    """Text the output contains (case-insensitive)."""

    def conditions(self, source: EvaluationSource = FIRST) -> list[ColumnElement[Any]]:
        """On the metrics of the ``source`` evaluation."""
        m = source.metrics.c
        found: list[ColumnElement[Any]] = []
        if self.passed is not None:
            any_failed = exists(
                select(m.result_id).where(m.result_id == res.result_id, m.passed.is_(False))
            )
            ok = and_(res.error.is_(None), not_(any_failed))
            found.append(ok if self.passed else not_(ok))
        if self.failed_check is not None:
            found.append(
                exists(
                    select(m.result_id).where(
                        m.result_id == res.result_id,
                        m.name == self.failed_check,
                        m.passed.is_(False),
                    )
                )
            )
        if self.case_index is not None:
            found.append(res.case_index == self.case_index)
        if self.q:
            pattern = "%" + self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            found.append(res.output.ilike(pattern + "%", escape="\\"))
        return found
