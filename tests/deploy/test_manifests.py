"""The Kubernetes manifests, rendered offline: every overlay (and each optional component) renders,
validates against the Kubernetes schemas, and keeps the rules deploy/README.md promises:
resources, probes, security context, autoscalers, disruption budgets, network policies, a
migration Job per service before the rollout, Secrets by reference only, production topics.
A typo (a wrong type, an unknown field) fails the build."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.deploy.kustomize import K8S, Manifest, composed, of_kind, render, schema_errors

OVERLAYS = ("dev", "prod")
SERVICES = {
    "prompt-service": ("prompt_service", 8001),
    "run-orchestrator": ("run_orchestrator", 8002),
    "evaluator": ("evaluator", 8003),
    "query-api": ("query_api", 8000),
}
AUTOSCALED = {"query-api", "run-orchestrator"}


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[Manifest]]:
    return request.param, render(K8S / "overlays" / request.param)


def pod_specs(manifests: Sequence[Manifest]) -> dict[str, dict[str, object]]:
    return {
        f"{m['kind']}/{m['metadata']['name']}": m["spec"]["template"]["spec"]
        for m in manifests
        if m["kind"] in ("Deployment", "Job")
    }


def test_every_rendered_object_validates_against_its_schema(
    overlay: tuple[str, list[Manifest]],
) -> None:
    _, manifests = overlay
    assert schema_errors(manifests) == []


def test_each_optional_component_renders_and_validates() -> None:
    for component, kind in (("ingress", "Ingress"), ("keda-evaluator", "ScaledObject")):
        manifests = _with_component(component)
        assert schema_errors(manifests) == [], component
        assert list(of_kind(manifests, kind)) == ["query-api" if kind == "Ingress" else "evaluator"]
        if kind == "ScaledObject":
            # KEDA owns the count: an apply must not reset it.
            assert "replicas" not in of_kind(manifests, "Deployment")["evaluator"]["spec"]
            target = of_kind(manifests, "ScaledObject")["evaluator"]["spec"]["scaleTargetRef"]
            assert target["name"] in of_kind(manifests, "Deployment")


def _with_component(component: str) -> list[Manifest]:
    with composed([K8S / "overlays" / "dev"], [K8S / "components" / component]) as root:
        return render(root)


async def test_keda_scales_the_evaluator_on_its_queue_read_with_a_referenced_secret(
    database,
) -> None:
    """The queue trigger's query runs on the evaluator's real schema, and its credentials come
    from a key the example Secret defines (never rendered)."""
    import asyncpg
    import yaml

    from promptworks_eventkit.db import asyncpg_dsn

    manifests = _with_component("keda-evaluator")
    triggers = of_kind(manifests, "ScaledObject")["evaluator"]["spec"]["triggers"]
    [queue] = [t for t in triggers if t["type"] == "postgresql"]
    authentication = of_kind(manifests, "TriggerAuthentication")[queue["authenticationRef"]["name"]]
    [reference] = authentication["spec"]["secretTargetRef"]
    assert reference["parameter"] == "connection"
    example = {
        d["metadata"]["name"]: d["stringData"]
        for d in yaml.safe_load_all((K8S / "secrets.example.yaml").read_text())
        if d
    }
    assert example[reference["name"]][reference["key"]].startswith("postgresql://")
    assert of_kind(manifests, "Secret") == {}
    connection = await asyncpg.connect(asyncpg_dsn(await database("evaluator")))
    try:
        depth = await connection.fetchval(queue["metadata"]["query"])
    finally:
        await connection.close()
    assert depth == 0 and int(queue["metadata"]["targetQueryValue"]) > 0


def test_the_tracing_component_sets_the_otel_variables_and_opens_the_collector_port() -> None:
    with composed([K8S / "overlays" / "prod"], [K8S / "components" / "tracing"]) as root:
        manifests = render(root)
    assert schema_errors(manifests) == []
    config = of_kind(manifests, "ConfigMap")["promptworks-config"]["data"]
    assert config["OTEL_EXPORTER_OTLP_ENDPOINT"].endswith(":4318")
    assert config["KAFKA_BOOTSTRAP_SERVERS"]  # patched, not replaced
    egress = of_kind(manifests, "NetworkPolicy")["egress-to-otel-collector"]["spec"]["egress"]
    assert egress == [{"ports": [{"protocol": "TCP", "port": 4318}]}]


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        # A wrong type.
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: evaluator}\n"
            'spec: {replicas: "two"}\n',
            "Deployment/evaluator: spec.replicas: 'two' is not of type 'integer'",
        ),
        # An unknown field (strict schemas).
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: query-api}\n"
            "spec: {template: {spec: {containers: [{name: query-api, livenesProbe: {}}]}}}\n",
            "Deployment/query-api: spec.template.spec.containers.0: Additional properties are "
            "not allowed ('livenesProbe' was unexpected)",
        ),
        # A typo in a custom resource (the narrower CRD schema).
        (
            "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
            "metadata: {name: query-api}\nspec: {hostname: [a.example.com]}\n",
            "HTTPRoute/query-api: spec: Additional properties are not allowed ('hostname' was "
            "unexpected)",
        ),
    ],
)
def test_a_typo_fails_validation(patch: str, expected: str) -> None:
    with composed([K8S / "overlays" / "prod"], patches=[patch]) as root:
        errors = schema_errors(render(root))
    assert any(error.startswith(expected) for error in errors), errors


def test_every_container_has_requests_limits_and_a_restrictive_security_context(
    overlay: tuple[str, list[Manifest]],
) -> None:
    _, manifests = overlay
    specs = pod_specs(manifests)
    assert len(specs) == 4 + 5  # four Deployments; four migration Jobs and the topics Job
    for name, spec in specs.items():
        assert spec["serviceAccountName"] == "promptworks", name
        assert spec["automountServiceAccountToken"] is False, name
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name  # type: ignore[index]
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name  # type: ignore[index]
        volumes = {v["name"]: v for v in spec["volumes"]}  # type: ignore[attr-defined]
        assert "emptyDir" in volumes["tmp"], name
        containers = [*spec.get("initContainers", []), *spec["containers"]]  # type: ignore[misc]
        for container in containers:
            where = f"{name}/{container['name']}"
            for bound in ("requests", "limits"):
                assert set(container["resources"][bound]) == {"cpu", "memory"}, where
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"] == {"drop": ["ALL"]}, where
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], where


def test_every_service_has_its_probes_port_service_and_budget(
    overlay: tuple[str, list[Manifest]],
) -> None:
    _, manifests = overlay
    deployments = of_kind(manifests, "Deployment")
    services = of_kind(manifests, "Service")
    budgets = of_kind(manifests, "PodDisruptionBudget")
    assert set(deployments) == set(SERVICES) == set(services) == set(budgets)
    for name, (module, port) in SERVICES.items():
        [container] = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert container["args"] == [module, "serve"]
        assert container["ports"] == [{"name": "http", "containerPort": port}]
        assert {"name": "HTTP_PORT", "value": str(port)} in container["env"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert services[name]["spec"]["ports"][0]["port"] == port
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        for selector in (services[name]["spec"]["selector"],):
            assert selector.items() <= labels.items()
        budget = budgets[name]["spec"]["selector"]["matchLabels"]
        assert budget.items() <= labels.items()


def test_query_api_and_run_orchestrator_autoscale_within_the_partitions(
    overlay: tuple[str, list[Manifest]],
) -> None:
    _, manifests = overlay
    autoscalers = of_kind(manifests, "HorizontalPodAutoscaler")
    deployments = of_kind(manifests, "Deployment")
    partitions = int(of_kind(manifests, "ConfigMap")["promptworks-config"]["data"]
                     ["KAFKA_TOPIC_PARTITIONS"])  # fmt: skip
    assert set(autoscalers) == AUTOSCALED
    for name, hpa in autoscalers.items():
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        # The autoscaler owns the count: a `replicas` in the manifest would reset it on apply.
        assert "replicas" not in deployments[name]["spec"]
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] <= partitions


def test_network_policies_expose_only_query_api(overlay: tuple[str, list[Manifest]]) -> None:
    _, manifests = overlay
    policies = of_kind(manifests, "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    ingress_rules = {
        name: p["spec"] for name, p in policies.items() if "Ingress" in p["spec"]["policyTypes"]
    }
    for name, spec in ingress_rules.items():
        if name in ("default-deny", "metrics-scraping"):
            continue
        selected = spec["podSelector"]
        if name == "query-api-ingress":
            assert selected == {"matchLabels": {"app.kubernetes.io/name": "query-api"}}
            continue
        if name == "run-orchestrator-ingress-from-evaluator":
            # The judge's calls (POST /internal/completions), from the evaluator's pods only.
            assert selected == {"matchLabels": {"app.kubernetes.io/name": "run-orchestrator"}}
            assert spec["ingress"] == [
                {
                    "from": [
                        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "evaluator"}}}
                    ],
                    "ports": [{"protocol": "TCP", "port": 8002}],
                }
            ]
            continue
        if name == "evaluator-ingress-from-run-orchestrator":
            # Pinning a run's evaluator version (GET /evaluators/...), from run-orchestrator only.
            assert selected == {"matchLabels": {"app.kubernetes.io/name": "evaluator"}}
            assert spec["ingress"] == [
                {
                    "from": [
                        {
                            "podSelector": {
                                "matchLabels": {"app.kubernetes.io/name": "run-orchestrator"}
                            }
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": 8003}],
                }
            ]
            continue
        # Everything else admits query-api's pods only.
        assert name == "command-services-ingress"
        assert selected["matchExpressions"][0]["values"] == [
            "prompt-service",
            "run-orchestrator",
            "evaluator",  # its dead-letter routes (ADR 0013)
        ]
        assert [rule["from"] for rule in spec["ingress"]] == [
            [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "query-api"}}}]
        ]
    # Otherwise the evaluator is admitted by nothing but the metrics scraper.
    scraping = policies["metrics-scraping"]["spec"]["ingress"][0]["from"]
    assert scraping == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    egress = policies["egress-dns-postgres-kafka"]["spec"]
    assert egress["podSelector"] == {}
    ports = {(p["protocol"], p["port"]) for rule in egress["egress"] for p in rule["ports"]}
    assert {("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", 9092)} <= ports


def test_the_public_route_reaches_query_api_and_nothing_else() -> None:
    manifests = render(K8S / "overlays" / "prod")
    services = of_kind(manifests, "Service")
    [route] = of_kind(manifests, "HTTPRoute").values()
    for rule in route["spec"]["rules"]:
        for backend in rule["backendRefs"]:
            assert backend["name"] == "query-api"
            assert backend["port"] == services["query-api"]["spec"]["ports"][0]["port"]
        paths = {m["path"]["value"] for m in rule["matches"]}
        assert paths == {"/api/", "/docs"}  # not /metrics, /healthz, /readyz
    ingress = of_kind(manifests, "NetworkPolicy")["query-api-ingress"]["spec"]["ingress"]
    assert all(rule.get("from") for rule in ingress), "prod admits the Gateway only"


def test_a_migration_job_per_service_runs_before_the_rollout(
    overlay: tuple[str, list[Manifest]],
) -> None:
    _, manifests = overlay
    jobs = of_kind(manifests, "Job")
    deployments = of_kind(manifests, "Deployment")
    assert set(jobs) == {f"{s}-migrate" for s in SERVICES} | {"topics"}
    for name, (module, _) in SERVICES.items():
        job = jobs[f"{name}-migrate"]
        assert job["metadata"]["labels"]["promptworks.io/stage"] == "pre-rollout"
        [container] = job["spec"]["template"]["spec"]["containers"]
        assert container["args"] == [module, "migrate"]
        # The command exists in that service's CLI.
        cli = importlib.import_module(f"{module}.cli").app
        assert "migrate" in {c.name or c.callback.__name__ for c in cli.registered_commands}
        # Same image and the same database Secret as the Deployment it prepares.
        [app] = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert container["image"] == app["image"]
        assert container["envFrom"] == app["envFrom"]
    # What the Jobs need is applied with them, in the same first step.
    staged = {
        (m["kind"], m["metadata"]["name"])
        for m in manifests
        if m["metadata"].get("labels", {}).get("promptworks.io/stage") == "pre-rollout"
    }
    assert staged == {
        ("Namespace", "promptworks"),
        ("ConfigMap", "promptworks-config"),
        ("ServiceAccount", "promptworks"),
        *(("Job", name) for name in jobs),
    }


SERVICE_CREDENTIAL = "promptworks-service-credential"


def test_secrets_are_referenced_never_rendered(overlay: tuple[str, list[Manifest]]) -> None:
    _, manifests = overlay
    assert of_kind(manifests, "Secret") == {}
    config = of_kind(manifests, "ConfigMap")["promptworks-config"]["data"]
    assert not {"DATABASE_URL", "PROVIDERS"} & set(config)
    for name, spec in pod_specs(manifests).items():
        for container in [*spec.get("initContainers", []), *spec["containers"]]:  # type: ignore[misc]
            refs = [s["secretRef"]["name"] for s in container["envFrom"] if "secretRef" in s]
            if container["args"][1] in ("serve", "migrate"):
                service = name.split("/")[1].removesuffix("-migrate")
                assert refs == [f"{service}-secrets"], name
            if container["args"][1] == "serve":  # the service credential, by reference
                [token] = [e for e in container["env"] if e["name"] == "SERVICE_TOKEN"]
                assert token["valueFrom"]["secretKeyRef"] == {
                    "name": SERVICE_CREDENTIAL,
                    "key": "SERVICE_TOKEN",
                }, name


def test_production_topics_are_replicated() -> None:
    manifests = render(K8S / "overlays" / "prod")
    config = of_kind(manifests, "ConfigMap")["promptworks-config"]["data"]
    assert config["KAFKA_TOPIC_REPLICATION_FACTOR"] == "3"
    assert config["KAFKA_TOPIC_MIN_INSYNC_REPLICAS"] == "2"
    assert int(config["KAFKA_TOPIC_PARTITIONS"]) == 12
    assert len(config["KAFKA_BOOTSTRAP_SERVERS"].split(",")) >= 3
    # The settings the `topics` step reads are these very variables.
    from promptworks_eventkit.settings import KafkaSettings

    settings = KafkaSettings.model_validate(
        {k.removeprefix("KAFKA_").lower(): v for k, v in config.items() if k.startswith("KAFKA_")}
    )
    assert settings.replication_factor() == 3
    assert settings.topic_min_insync_replicas == 2


def test_the_example_secrets_match_what_the_pods_reference() -> None:
    import yaml

    example = [d for d in yaml.safe_load_all((K8S / "secrets.example.yaml").read_text()) if d]
    assert {d["metadata"]["name"] for d in example} == {
        *(f"{s}-secrets" for s in SERVICES),
        SERVICE_CREDENTIAL,
    }
    assert schema_errors(example) == []


def test_no_stale_flat_manifests_remain() -> None:
    assert sorted(p.name for p in Path(K8S).glob("*.yaml")) == ["secrets.example.yaml"]


def test_the_rebuild_job_renders_validates_and_runs_query_api_rebuild_once() -> None:
    manifests = render(K8S / "operations" / "rebuild")
    assert schema_errors(manifests) == []
    job = of_kind(manifests, "Job")["query-api-rebuild"]
    spec = job["spec"]["template"]["spec"]
    assert spec["containers"][0]["args"] == ["query_api", "rebuild"]
    # Never retried by Kubernetes: a failed rebuild is looked at, then run again by hand.
    assert job["spec"]["backoffLimit"] == 0 and spec["restartPolicy"] == "Never"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert {"secretRef": {"name": "query-api-secrets"}} in spec["containers"][0]["envFrom"]
