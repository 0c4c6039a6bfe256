"""JSON Schemas for the custom resources the kustomizations render, a NARROWER subset of the
upstream CRDs, kept by hand: no registry we can reach ships them in a form Python can use.

They cover the fields of the upstream OpenAPI schemas that our manifests use, with upstream's
types, enums, patterns and limits, and refuse every other field (``additionalProperties:
false``), so a typo or a misplaced field fails like it would on a cluster. They do not check
upstream's CEL rules. Sources (transcribed by hand):
- Gateway API v1.2 ``gateway.networking.k8s.io_httproutes.yaml`` (standard channel), ``v1``;
- KEDA v2.16 ``keda.sh_scaledobjects.yaml`` and ``keda.sh_triggerauthentications.yaml``,
  ``v1alpha1``.
Extend them when a manifest uses a new field (the test names the field it refused).
"""

from __future__ import annotations

from typing import Any

_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_HOSTNAME = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_DURATION = r"^([0-9]{1,5}(h|m|s|ms)){1,4}$"


def _closed(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


_METADATA = _closed(
    {
        "name": {"type": "string", "pattern": _DNS_LABEL, "maxLength": 253},
        "namespace": {"type": "string", "pattern": _DNS_LABEL, "maxLength": 63},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    ("name",),
)

_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}

HTTP_ROUTE: dict[str, Any] = _closed(
    {
        "apiVersion": {"const": "gateway.networking.k8s.io/v1"},
        "kind": {"const": "HTTPRoute"},
        "metadata": _METADATA,
        "spec": _closed(
            {
                "parentRefs": {
                    "type": "array",
                    "maxItems": 32,
                    "items": _closed(
                        {
                            "group": {"type": "string", "maxLength": 253},
                            "kind": {"type": "string", "minLength": 1, "maxLength": 63},
                            "namespace": {"type": "string", "pattern": _DNS_LABEL},
                            "name": {"type": "string", "minLength": 1, "maxLength": 253},
                            "sectionName": {"type": "string", "pattern": _DNS_LABEL},
                            "port": _PORT,
                        },
                        ("name",),
                    ),
                },
                "hostnames": {
                    "type": "array",
                    "maxItems": 16,
                    "items": {"type": "string", "pattern": _HOSTNAME, "maxLength": 253},
                },
                "rules": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 16,
                    "items": _closed(
                        {
                            "matches": {
                                "type": "array",
                                "maxItems": 64,
                                "items": _closed(
                                    {
                                        "path": _closed(
                                            {
                                                "type": {
                                                    "enum": [
                                                        "Exact",
                                                        "PathPrefix",
                                                        "RegularExpression",
                                                    ]
                                                },
                                                "value": {
                                                    "type": "string",
                                                    "maxLength": 1024,
                                                    "pattern": "^/",
                                                },
                                            }
                                        ),
                                        "method": {
                                            "enum": [
                                                "GET",
                                                "HEAD",
                                                "POST",
                                                "PUT",
                                                "DELETE",
                                                "CONNECT",
                                                "OPTIONS",
                                                "TRACE",
                                                "PATCH",
                                            ]
                                        },
                                    }
                                ),
                            },
                            "backendRefs": {
                                "type": "array",
                                "maxItems": 16,
                                "items": _closed(
                                    {
                                        "group": {"type": "string"},
                                        "kind": {"type": "string"},
                                        "name": {"type": "string", "minLength": 1},
                                        "namespace": {"type": "string", "pattern": _DNS_LABEL},
                                        "port": _PORT,
                                        "weight": {
                                            "type": "integer",
                                            "minimum": 0,
                                            "maximum": 1000000,
                                        },
                                    },
                                    ("name",),
                                ),
                            },
                            "timeouts": _closed(
                                {
                                    "request": {"type": "string", "pattern": _DURATION},
                                    "backendRequest": {"type": "string", "pattern": _DURATION},
                                }
                            ),
                        }
                    ),
                },
            }
        ),
    },
    ("apiVersion", "kind", "metadata", "spec"),
)

_INT32 = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}

SCALED_OBJECT: dict[str, Any] = _closed(
    {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": _METADATA,
        "spec": _closed(
            {
                "scaleTargetRef": _closed(
                    {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "name": {"type": "string"},
                        "envSourceContainerName": {"type": "string"},
                    },
                    ("name",),
                ),
                "pollingInterval": _INT32,
                "cooldownPeriod": _INT32,
                "initialCooldownPeriod": _INT32,
                "idleReplicaCount": _INT32,
                "minReplicaCount": _INT32,
                "maxReplicaCount": _INT32,
                "fallback": _closed(
                    {"failureThreshold": _INT32, "replicas": _INT32},
                    ("failureThreshold", "replicas"),
                ),
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": _closed(
                        {
                            "type": {"type": "string"},
                            "name": {"type": "string"},
                            "useCachedMetrics": {"type": "boolean"},
                            "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                            # KEDA takes every trigger setting as a string.
                            "metadata": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                            },
                            "authenticationRef": _closed(
                                {"name": {"type": "string"}, "kind": {"type": "string"}},
                                ("name",),
                            ),
                        },
                        ("type", "metadata"),
                    ),
                },
            },
            ("scaleTargetRef", "triggers"),
        ),
    },
    ("apiVersion", "kind", "metadata", "spec"),
)

TRIGGER_AUTHENTICATION: dict[str, Any] = _closed(
    {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "TriggerAuthentication"},
        "metadata": _METADATA,
        "spec": _closed(
            {
                "secretTargetRef": {
                    "type": "array",
                    "items": _closed(
                        {
                            "parameter": {"type": "string"},
                            "name": {"type": "string"},
                            "key": {"type": "string"},
                        },
                        ("parameter", "name", "key"),
                    ),
                },
                "env": {
                    "type": "array",
                    "items": _closed(
                        {
                            "parameter": {"type": "string"},
                            "name": {"type": "string"},
                            "containerName": {"type": "string"},
                        },
                        ("parameter", "name"),
                    ),
                },
            }
        ),
    },
    ("apiVersion", "kind", "metadata", "spec"),
)

CRD_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): HTTP_ROUTE,
    ("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): TRIGGER_AUTHENTICATION,
}
