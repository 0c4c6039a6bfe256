"""A result's document written by orjson from its values as they are, where that is the text
``ResultOut`` validated and serialised by pydantic gives (``result_documents``' renderers fall
back to the models everywhere else).

Validating ~10 models per result and serialising them took ~25 µs of the projection's CPU
per result for its document and as much again for its evaluated part (``bench.projection_cost``);
orjson writes the same JSON from plain values in a few. What makes the two texts the same, and
what this module therefore checks before writing (declining with None):

- every key in the models' field order (the dicts are built in it; a metric's and a reason's
  are checked: a reason read back from JSONB has its keys in JSONB's order);
- a float field holds a float (pydantic writes an int given for a float as ``1.0``, orjson as
  ``1``) and an int field an int; both write floats alike, non-finite ones as ``null``;
- strings escaped alike (both RFC 8259, non-ASCII unescaped); a lone surrogate, which orjson
  refuses, declines;
- no judgements and no output checks (their models are not compared here: most results have
  none of them);
- a cost as ``MoneyOut`` has it (its amount canonical, ``money_out``), written as pydantic
  writes a ``Decimal``: its ``str``;
- ``created_at`` aware, in UTC: pydantic writes ``Z``, as ``OPT_UTC_Z`` does.

``test_units`` compares the two on edge values (floats of every magnitude and bit pattern,
control characters, quotes, non-ASCII text) and on what is declined.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from promptworks_contracts.values import AssertionFailure
from query_api.schemas.runs import MetricOut, MoneyOut

METRIC_FIELDS = tuple(MetricOut.model_fields)
REASON_FIELDS = tuple(AssertionFailure.model_fields)
INTS = ("case_index", "repetition", "prompt_tokens", "completion_tokens", "total_tokens")


def _float_or_none(value: Any) -> bool:
    return value is None or value.__class__ is float


def evaluated_json(evaluated: Mapping[str, Any]) -> str | None:
    """The evaluated fields' part of a document (``"metrics":[...],...,"output_checks":null``),
    or None where the models must write it."""
    if evaluated["judgements"] or evaluated["output_checks"] is not None:
        return None
    for metric in evaluated["metrics"]:
        if tuple(metric) != METRIC_FIELDS or not _float_or_none(metric["value"]):
            return None
    if not _float_or_none(evaluated["score"]):
        return None
    for reason in evaluated["reasons"]:
        # As dumped from the model; read back from JSONB its keys are in another order.
        if tuple(reason) != REASON_FIELDS or reason["weight"].__class__ is not float:
            return None
        if not (_float_or_none(reason["value"]) and _float_or_none(reason["threshold"])):
            return None
    try:
        return orjson.dumps(evaluated)[1:-1].decode()
    except (TypeError, orjson.JSONEncodeError):
        return None


def document_json(
    row: Mapping[Any, Any],
    created_at: datetime,
    cost: MoneyOut | None,
    evaluated: Mapping[str, Any],
) -> str | None:
    """A whole document (``result_documents.render``'s fields), or None where the models must
    write it."""
    if row["latency_ms"].__class__ is not float:
        return None
    if row["cached"].__class__ is not bool or any(row[name].__class__ is not int for name in INTS):
        return None
    part = evaluated_json(evaluated)
    if part is None:
        return None
    try:
        head = orjson.dumps(
            {
                "id": row["result_id"],
                "run_id": row["run_id"],
                "case_index": row["case_index"],
                "repetition": row["repetition"],
                "output": row["output"],
                "latency_ms": row["latency_ms"],
                "prompt_tokens": row["prompt_tokens"],
                "completion_tokens": row["completion_tokens"],
                "total_tokens": row["total_tokens"],
                "finish_reason": row["finish_reason"],
                "error": row["error"],
                "created_at": created_at,
                "cost": None
                if cost is None
                else {"amount": str(cost.amount), "currency": cost.currency},
                "cached": row["cached"],
            },
            option=orjson.OPT_UTC_Z,
        )
        tail = orjson.dumps({"test_run_id": row["run_id"], "tokens_used": row["total_tokens"]})
    except (TypeError, orjson.JSONEncodeError):
        return None
    return f"{head[:-1].decode()},{part},{tail[1:].decode()}"
