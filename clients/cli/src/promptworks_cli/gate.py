"""The CI gate: why a finished run does not pass (an empty list: it passes)."""

from __future__ import annotations

from typing import Any

from promptworks_cli.specs import Gate


def pass_rate(run: dict[str, Any]) -> float | None:
    summary = run.get("evaluation_summary") or {}
    value = summary.get("pass_rate")
    return None if value is None else float(value)


def failures(run: dict[str, Any], gate: Gate, baseline: dict[str, Any] | None) -> list[str]:
    reasons: list[str] = []
    if run["status"] != "completed":
        reason = f": {run['failure_reason']}" if run.get("failure_reason") else ""
        reasons.append(f"run {run['id']} is {run['status']}{reason}")
    if gate.max_failed_calls is not None and run["failed"] > gate.max_failed_calls:
        reasons.append(f"{run['failed']} calls failed (at most {gate.max_failed_calls})")
    rate = pass_rate(run)
    needs_rate = gate.min_pass_rate is not None or baseline is not None
    if needs_rate and run.get("evaluation_summary") is None:
        reasons.append(f"run {run['id']} has no evaluation summary")
    elif needs_rate and rate is None:
        reasons.append(f"run {run['id']} has no pass rate (no assertions, no expected outputs)")
    if rate is not None and gate.min_pass_rate is not None and rate < gate.min_pass_rate:
        reasons.append(f"pass rate {rate:.1%} is below {gate.min_pass_rate:.1%}")
    if rate is not None and baseline is not None:
        before = pass_rate(baseline)
        if before is None:
            reasons.append(f"baseline run {baseline['id']} has no pass rate")
        elif rate < before - gate.max_regression:
            reasons.append(
                f"regression: pass rate {rate:.1%} against {before:.1%} in baseline run "
                f"{baseline['id']} (tolerance {gate.max_regression:.1%})"
            )
    return reasons
