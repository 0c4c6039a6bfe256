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
    """The standard metrics as ``MetricValue`` fields (``metric_values`` makes them models)."""
    failed = result.error is not None
    usage = result.usage
    return [
        {"name": "latency_ms", "value": result.latency_ms},
        {"name": "prompt_tokens", "value": float(usage.prompt_tokens)},
        {"name": "completion_tokens", "value": float(usage.completion_tokens)},
        {"name": "total_tokens", "value": float(usage.total_tokens)},
        {
            "name": "output_chars",
            "value": None if result.output is None else float(len(result.output)),
        },
        {"name": "tokens_per_second", "value": tokens_per_second(result)},
        {"name": "error", "value": 1.0 if failed else 0.0, "passed": not failed},
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
        },
        {
            "name": "schema_pass",
            "value": None if checks.schema_pass is None else float(checks.schema_pass),
            "passed": checks.schema_pass,
        },
        {
            "name": "missing_fields",
            "value": float(findings.missing) if structural else None,
            "detail": short(missing) if missing else None,
        },
        {
            "name": "type_mismatches",
            "value": float(findings.mismatched) if structural else None,
            "detail": short(mismatched) if mismatched else None,
        },
        {"name": "numeric_accuracy", "value": checks.numeric_accuracy},
        {"name": "boolean_accuracy", "value": checks.boolean_accuracy},
    ]
