"""Test cases: the variables of one case, its optional expected output and free metadata.

A case arrives in one of three shapes, all becoming ``Case``:
- JSON: an object of variables (the original API), or ``{"variables": {...}, "expected": ...,
  "metadata": {...}}`` (recognised when it has ``variables`` as an object and no other keys
  than those three);
- JSON Lines: one such object per line;
- CSV: a header row of variable names; the column ``expected`` is the expected output and
  ``metadata.<key>`` columns are metadata. CSV has no types, so its values are ``textual``:
  planning converts them to each variable's declared type, and an empty cell is a variable
  not given (its default applies).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from promptworks_contracts.api.runs import CaseFormat
from promptworks_eventkit.errors import DomainError

CASE_KEYS = frozenset({"variables", "expected", "metadata"})
EXPECTED_COLUMN = "expected"
METADATA_PREFIX = "metadata."


class Case(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    variables: dict[str, Any] = Field(default_factory=dict)
    expected: Any = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    textual: bool = False
    """Values came as text (CSV) and are converted to the declared types when planned."""


def case_from_json(item: dict[str, Any], index: int, field: str = "cases") -> Case:
    variables = item.get("variables")
    if isinstance(variables, dict) and set(item) <= CASE_KEYS:
        metadata = item.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise DomainError(
                f"case {index}: `metadata` must be an object",
                field=f"{field}.{index}.metadata",
                rule="type",
            )
        return Case(variables=variables, expected=item.get("expected"), metadata=metadata)
    return Case(variables=item)


def parse_cases(text: str, fmt: CaseFormat) -> list[Case]:
    """Cases from an uploaded file's text; a malformed line or row is a 422 naming it."""
    return _from_csv(text) if fmt == "csv" else _from_jsonl(text)


def _from_jsonl(text: str) -> list[Case]:
    cases: list[Case] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise DomainError(
                f"line {number} is not JSON: {error.msg}", field="cases_text", rule="jsonl"
            ) from error
        if not isinstance(item, dict):
            raise DomainError(
                f"line {number} must be a JSON object", field="cases_text", rule="jsonl"
            )
        cases.append(case_from_json(item, len(cases), field="cases_text"))
    return cases


def _from_csv(text: str) -> list[Case]:
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if not header:
        raise DomainError("the CSV has no header row", field="cases_text", rule="csv")
    if len(set(header)) != len(header):
        raise DomainError("the CSV header repeats a column", field="cases_text", rule="csv")
    cases: list[Case] = []
    try:
        for row in reader:
            if None in row:  # more cells than columns
                raise DomainError(
                    f"CSV line {reader.line_num} has more cells than the header",
                    field="cases_text",
                    rule="csv",
                )
            cases.append(_csv_case(row))
    except csv.Error as error:
        raise DomainError(
            f"CSV line {reader.line_num}: {error}", field="cases_text", rule="csv"
        ) from error
    return cases


def _csv_case(row: dict[str, str | None]) -> Case:
    variables: dict[str, Any] = {}
    metadata: dict[str, Any] = {}
    expected: str | None = None
    for column, value in row.items():
        if value is None or value == "":
            continue
        if column == EXPECTED_COLUMN:
            expected = value
        elif column.startswith(METADATA_PREFIX):
            metadata[column.removeprefix(METADATA_PREFIX)] = value
        else:
            variables[column] = value
    return Case(variables=variables, expected=expected, metadata=metadata, textual=True)
