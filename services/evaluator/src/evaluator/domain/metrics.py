"""The metrics every result gets, whatever its run asked for.

- ``latency_ms``, ``prompt_tokens``, ``completion_tokens``, ``total_tokens``: as reported.
- ``output_chars``: the output's length; None when the call produced no output.
- ``tokens_per_second``: completion tokens per second of latency; None when the latency is 0 or
  the call failed (a failed call produced no tokens worth a rate).
- ``error``: 1.0 when the call failed, else 0.0; ``passed`` = no error, so its pass rate is the
  run's success rate.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final

from pydantic import TypeAdapter

from evaluator.domain.output_checks import PLAIN, Findings
from evaluator.domain.subject import short
from promptworks_contracts.events import ResultRecorded
from promptworks_contracts.values import MetricValue

STANDARD_METRICS: Final = (
    "latency_ms",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "output_chars",
    "tokens_per_second",
    "error",
)


def tokens_per_second(result: ResultRecorded) -> float | None:
    if result.error is not None or result.latency_ms <= 0:
        return None
    return result.usage.completion_tokens / (result.latency_ms / 1000.0)


def standard_metric_values(result: ResultRecorded) -> list[dict[str, Any]]:
    """The standard metrics as ``MetricValue`` fields (``metric_values`` makes them models;
    every field given, in the model's order, as ``metric_documents`` expects)."""
    failed = result.error is not None
    usage = result.usage
    output = result.output
    return [
        {"name": "latency_ms", "value": float(result.latency_ms), "passed": None, "detail": None},
        {
            "name": "prompt_tokens",
            "value": float(usage.prompt_tokens),
            "passed": None,
            "detail": None,
        },
        {
            "name": "completion_tokens",
            "value": float(usage.completion_tokens),
            "passed": None,
            "detail": None,
        },
        {
            "name": "total_tokens",
            "value": float(usage.total_tokens),
            "passed": None,
            "detail": None,
        },
        {
            "name": "output_chars",
            "value": None if output is None else float(len(output)),
            "passed": None,
            "detail": None,
        },
        {
            "name": "tokens_per_second",
            "value": tokens_per_second(result),
            "passed": None,
            "detail": None,
        },
        {"name": "error", "value": 1.0 if failed else 0.0, "passed": not failed, "detail": None},
    ]


def standard_metrics(result: ResultRecorded) -> list[MetricValue]:
    return metric_values(standard_metric_values(result))


@cache
def _metric_list() -> TypeAdapter[list[MetricValue]]:
    return TypeAdapter(list[MetricValue])


def metric_values(fields: list[dict[str, Any]]) -> list[MetricValue]:
    """Models from their fields, validated in one call (a result has ~25 metrics: one
    ``MetricValue(...)`` each cost several times the text checks that measured them)."""
    return _metric_list().validate_python(fields)


_FLOAT: Final = float


def metric_documents(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``fields`` as the event's JSON carries them, without making models (~25 per result):
    each field is given, in ``MetricValue``'s order, by the evaluator's own code; the
    constraints that input could break (a name or detail too long, a value not a float) are
    checked here, and fields that fail them are validated as models, which raises the error
    ``MetricValue`` gives (so nothing invalid is ever encoded)."""
    for field in fields:
        name, value, detail = field["name"], field["value"], field["detail"]
        if (
            not 0 < len(name) <= _NAME_CHARS
            or (value is not None and type(value) is not _FLOAT)
            or (detail is not None and len(detail) > _DETAIL_CHARS)
        ):
            return [metric.model_dump() for metric in metric_values(fields)]
    return fields


_NAME_CHARS: Final = 200
_DETAIL_CHARS: Final = 2000
"""``MetricValue``'s bounds (tests check they match the model's)."""


OUTPUT_METRICS: Final = (
    "is_valid_json",
    "schema_pass",
    "missing_fields",
    "type_mismatches",
    "numeric_accuracy",
    "boolean_accuracy",
)
"""The original product's metrics (``output_checks``), on the results of runs that give an
expected output or a JSON Schema. ``missing_fields`` and ``type_mismatches`` are counts here;
the event's ``output_checks`` lists them."""


def output_metric_values(findings: Findings) -> list[dict[str, Any]]:
    """The original product's metrics as ``MetricValue`` fields."""
    if findings is PLAIN[findings.checks.is_valid_json]:
        return _plain_metric_values(findings.checks.is_valid_json)
    return _metric_fields(findings)


@cache
def _plain_metric_values(valid_json: bool) -> list[dict[str, Any]]:
    """The same fields for every plain-text result (``output_checks.PLAIN``): made once (the
    caller validates them into new models, never changes them)."""
    return _metric_fields(PLAIN[valid_json])


def _metric_fields(findings: Findings) -> list[dict[str, Any]]:
    checks, structural = findings.checks, findings.structural
    missing = ", ".join(checks.missing_fields)
    mismatched = "; ".join(
        f"{m.path or '/'}: {m.expected}, got {m.actual}" for m in checks.type_mismatches
    )
    return [
        {
            "name": "is_valid_json",
            "value": 1.0 if checks.is_valid_json else 0.0,
            "passed": checks.is_valid_json,
            "detail": None,
        },
        {
            "name": "schema_pass",
            "value": None if checks.schema_pass is None else float(checks.schema_pass),
            "passed": checks.schema_pass,
            "detail": None,
        },
        {
            "name": "missing_fields",
            "value": float(findings.missing) if structural else None,
            "passed": None,
            "detail": short(missing) if missing else None,
        },
        {
            "name": "type_mismatches",
            "value": float(findings.mismatched) if structural else None,
            "passed": None,
            "detail": short(mismatched) if mismatched else None,
        },
        {
            "name": "numeric_accuracy",
            "value": _float(checks.numeric_accuracy),
            "passed": None,
            "detail": None,
        },
        {
            "name": "boolean_accuracy",
            "value": _float(checks.boolean_accuracy),
            "passed": None,
            "detail": None,
        },
    ]


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)
