"""What the committed dashboard and alert rules (``deploy/observability``) refer to, and what the
services define: the metric names on both sides."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
OBSERVABILITY = REPO / "deploy" / "observability"
DASHBOARD = OBSERVABILITY / "grafana" / "dashboards" / "promptworks.json"
ALERTS = OBSERVABILITY / "alerts.yml"

PROVIDER_METRICS = {
    "promptworks_provider_calls_total",
    "promptworks_provider_call_duration_seconds_bucket",
    "promptworks_provider_call_duration_seconds_sum",
    "promptworks_provider_call_duration_seconds_count",
    "promptworks_provider_tokens_total",
    "promptworks_provider_cost_total",
    "promptworks_runs_in_flight",
}
"""run-orchestrator's provider metrics (named in ADR 0007, where their author reads them)."""

PROMETHEUS_SERIES = {"up"}
"""Series Prometheus makes itself for every target."""

# Everything in a PromQL expression that is not a metric name.
_KEYWORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "topk", "bottomk", "quantile", "group",
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "rate", "irate", "increase", "deriv", "delta", "idelta",
    "histogram_quantile", "abs", "clamp_min", "clamp_max", "vector", "scalar", "time",
    "avg_over_time", "max_over_time", "min_over_time", "sum_over_time", "absent", "label_replace",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors ([5m], [$__rate_interval])
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set(re.findall(r"(?<![\w$.])[a-zA-Z_:][a-zA-Z0-9_:]*", text))
    return {n for n in names if n not in _KEYWORDS and not re.fullmatch(r"\d+[smhdwy]?", n)}


def alert_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        rules += group["rules"]
    return rules


def dashboard_targets() -> Iterator[tuple[str, str]]:
    """(panel title, expression) of every query of the dashboard."""
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def referenced_metrics() -> dict[str, set[str]]:
    """Metric name -> where it is used (alert names, panel titles)."""
    used: dict[str, set[str]] = {}
    for rule in alert_rules():
        for name in metric_names(rule["expr"]):
            used.setdefault(name, set()).add(f"alert {rule['alert']}")
    for title, expr in dashboard_targets():
        for name in metric_names(expr):
            used.setdefault(name, set()).add(f"panel {title!r}")
    return used


def sample_names(family_name: str, family_type: str) -> set[str]:
    """The series names a metric family of prometheus_client exposes."""
    if family_type == "counter":
        return {f"{family_name}_total", f"{family_name}_created"}
    if family_type == "histogram":
        return {f"{family_name}_{s}" for s in ("bucket", "sum", "count", "created")}
    if family_type == "summary":
        return {family_name, f"{family_name}_sum", f"{family_name}_count"}
    return {family_name}
