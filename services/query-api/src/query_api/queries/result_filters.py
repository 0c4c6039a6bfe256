"""Filters of a run's results, shared by the paged list and the NDJSON export.

A result ``passed`` when its call succeeded and none of its checks failed (a metric whose
``passed`` is false); until its metrics are applied it counts as passed if the call succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement

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

    @property
    def none(self) -> bool:
        """No filter given (``q=""`` filters nothing, as in ``conditions``)."""
        return (
            self.passed is None
            and self.failed_check is None
            and self.case_index is None
            and not self.q
        )

    def conditions(self) -> list[ColumnElement[Any]]:
        # ``ok`` and ``failed_checks`` are derived from the metrics when the result's document
        # is rendered (projections.result_documents): indexed columns, no per-row subquery.
        found: list[ColumnElement[Any]] = []
        if self.passed is not None:
            found.append(res.ok == self.passed)  # equality: an index condition
        if self.failed_check is not None:
            found.append(res.failed_checks.contains([self.failed_check]))
        if self.case_index is not None:
            found.append(res.case_index == self.case_index)
        if self.q:
            # A trigram index serves ILIKE '%...%' (ix_results_output_trgm).
            pattern = "%" + self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            found.append(res.output.ilike(pattern + "%", escape="\\"))
        return found
