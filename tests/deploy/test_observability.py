"""The committed dashboard, alert rules, Prometheus and Grafana provisioning, and the compose file
that runs them: every metric they use is one the services export (or a documented provider
metric), and ``docker-compose.yml`` validates against the Compose Specification's JSON schema."""

from __future__ import annotations

import copy
import importlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from prometheus_client import REGISTRY

from tests.deploy.observability import (
    ALERTS,
    DASHBOARD,
    OBSERVABILITY,
    PROMETHEUS_SERIES,
    PROVIDER_METRICS,
    REPO,
    alert_rules,
    dashboard_targets,
    metric_names,
    referenced_metrics,
    sample_names,
)

SERVICES = {
    "query-api": ("query_api", 8000),
    "prompt-service": ("prompt_service", 8001),
    "run-orchestrator": ("run_orchestrator", 8002),
    "evaluator": ("evaluator", 8003),
}
COMPOSE_SCHEMA = REPO / ".cache" / "compose-spec" / "compose.schema.json"
"""The Compose Specification's schema as the npm package dclint ships it (``make install``)."""


def exported_families() -> dict[str, set[str]]:
    """Every metric family the four services define (their apps import all their metrics),
    with the series names it exposes."""
    for module, _ in SERVICES.values():
        importlib.import_module(f"{module}.app")
    return {f.name: sample_names(f.name, f.type) for f in REGISTRY.collect()}


def test_the_metric_name_parser_finds_selectors_only() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (job, le) (rate(a_seconds_bucket{route!~"/x|/y"}'
        '[$__rate_interval]))) / on (job) group_left b_total > 0.5 and up{job="q"} == 0'
    )
    assert metric_names(expr) == {"a_seconds_bucket", "b_total", "up"}


def test_every_metric_the_dashboard_and_the_rules_use_is_exported() -> None:
    families = exported_families()
    exported = set().union(*families.values())
    used = referenced_metrics()
    unknown = {
        name: sorted(where)
        for name, where in used.items()
        if name not in exported | PROMETHEUS_SERIES
    }
    assert unknown == {}
    # And the other way round: every PromptWorks metric is on the dashboard or in a rule.
    unused = {
        family
        for family, series in families.items()
        if family.startswith("promptworks_") and not series & used.keys()
    }
    assert unused == set()


def test_the_provider_metrics_are_documented_where_their_author_reads_them() -> None:
    adr = next((REPO / "docs" / "adr").glob("0007-*.md")).read_text()
    for name in PROVIDER_METRICS:
        family = name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
        assert family in adr, name


def test_alert_rules_are_complete_and_explained() -> None:
    rules = alert_rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names))
    assert {
        "PromptWorksProjectionLag",
        "PromptWorksDeadLetters",
        "PromptWorksOutboxBacklog",
        "PromptWorksHttp5xxRate",
        "PromptWorksProviderErrorRate",
    } <= set(names)
    runbook = (REPO / "deploy" / "README.md").read_text()
    for rule in rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert metric_names(rule["expr"]), rule["alert"]
        # deploy/README.md says what each alert means and what to do.
        assert f"`{rule['alert']}`" in runbook, rule["alert"]


def test_the_dashboard_is_provisionable() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"]
    [variable] = dashboard["templating"]["list"]
    assert variable == {**variable, "name": "datasource", "type": "datasource"}
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        area = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not area & cells, f"{panel['title']} overlaps another panel"
        assert grid["x"] + grid["w"] <= 24
        cells |= area
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]
    assert sum(1 for _ in dashboard_targets()) >= 20


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def test_prometheus_scrapes_every_service_and_loads_the_rules() -> None:
    config = yaml.safe_load((OBSERVABILITY / "prometheus.yml").read_text())
    jobs = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    assert jobs == {name: [f"{name}:{port}"] for name, (_, port) in SERVICES.items()}
    services = compose()["services"]
    for name, (_, port) in SERVICES.items():
        assert services[name]["environment"]["HTTP_PORT"] == str(port)
    # The files Prometheus and Grafana read are the ones compose mounts.
    mounts = {
        volume.split(":")[1]: REPO / volume.split(":")[0]
        for service in ("prometheus", "grafana")
        for volume in services[service]["volumes"]
        if volume.startswith("./")
    }
    assert mounts["/etc/prometheus/prometheus.yml"] == OBSERVABILITY / "prometheus.yml"
    assert mounts["/etc/prometheus/alerts.yml"].resolve() == ALERTS
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    for path in mounts.values():
        assert path.exists(), path
    provider = yaml.safe_load(
        (OBSERVABILITY / "grafana/provisioning/dashboards/promptworks.yml").read_text()
    )
    dashboards = Path(provider["providers"][0]["options"]["path"])
    assert mounts[str(dashboards)].resolve() == DASHBOARD.parent


def compose_errors(document: dict[str, Any]) -> list[str]:
    if not COMPOSE_SCHEMA.exists():
        pytest.fail(f"{COMPOSE_SCHEMA} is missing: `make install` fetches it")
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(document)]


def test_docker_compose_follows_the_compose_specification() -> None:
    assert compose_errors(compose()) == []


def test_a_typo_in_docker_compose_fails_the_check() -> None:
    broken = copy.deepcopy(compose())
    broken["services"]["grafana"]["restartt"] = "always"
    assert any("restartt" in e for e in compose_errors(broken))
    broken = copy.deepcopy(compose())
    broken["services"]["prometheus"]["ports"] = 9090
    assert any("ports" in e for e in compose_errors(broken))
