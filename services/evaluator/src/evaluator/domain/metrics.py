"""The metrics every result gets, whatever its run asked for.

- ``latency_ms``, ``prompt_tokens``, ``completion_tokens``, ``total_tokens``: as reported.
- ``output_chars``: the output's length; None when the call produced no output.
- ``tokens_per_second``: completion tokens per second of latency; None when the latency is 0 or
  the call failed (a failed call produced no tokens worth a rate).
- ``error``: 1.0 when the call failed, else 0.0; ``passed`` = no error, so its pass rate is the
  run's success rate.
"""

from __future__ import annotations

from typing import Final

from evaluator.domain.output_checks import Findings
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


def standard_metrics(result: ResultRecorded) -> list[MetricValue]:
    failed = result.error is not None
    usage = result.usage
    return [
        MetricValue(name="latency_ms", value=result.latency_ms),
        MetricValue(name="prompt_tokens", value=float(usage.prompt_tokens)),
        MetricValue(name="completion_tokens", value=float(usage.completion_tokens)),
        MetricValue(name="total_tokens", value=float(usage.total_tokens)),
        MetricValue(
            name="output_chars",
            value=None if result.output is None else float(len(result.output)),
        ),
        MetricValue(name="tokens_per_second", value=tokens_per_second(result)),
        MetricValue(name="error", value=1.0 if failed else 0.0, passed=not failed),
    ]


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


def output_metrics(findings: Findings) -> list[MetricValue]:
    checks, structural = findings.checks, findings.structural
    missing = ", ".join(checks.missing_fields)
    mismatched = "; ".join(
        f"{m.path or '/'}: {m.expected}, got {m.actual}" for m in checks.type_mismatches
    )
    return [
        MetricValue(
            name="is_valid_json",
            value=1.0 if checks.is_valid_json else 0.0,
            passed=checks.is_valid_json,
        ),
        MetricValue(
            name="schema_pass",
            value=None if checks.schema_pass is None else float(checks.schema_pass),
            passed=checks.schema_pass,
        ),
        MetricValue(
            name="missing_fields",
            value=float(findings.missing) if structural else None,
            detail=short(missing) if missing else None,
        ),
        MetricValue(
            name="type_mismatches",
            value=float(findings.mismatched) if structural else None,
            detail=short(mismatched) if mismatched else None,
        ),
        MetricValue(name="numeric_accuracy", value=checks.numeric_accuracy),
        MetricValue(name="boolean_accuracy", value=checks.boolean_accuracy),
    ]
