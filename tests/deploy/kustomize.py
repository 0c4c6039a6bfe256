"""Renders the Kubernetes kustomizations under ``deploy/k8s`` and checks what they render.

Offline: kustomize is the pinned binary ``make install`` builds into ``.cache/bin`` (or one on
PATH, or ``kubectl kustomize``); the Kubernetes JSON schemas come with the PyPI package
``kubernetes-validate`` (strict: an unknown field is an error). The two custom resources we
render (Gateway API ``HTTPRoute``, KEDA ``ScaledObject``) have no schema in that package: they
are checked against ``crd_schemas.py``, a narrower, hand-kept subset of the upstream CRDs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from tests.deploy.crd_schemas import CRD_SCHEMAS

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
KUBERNETES_VERSION = "1.32"
"""The oldest Kubernetes the manifests promise to work on (schemas of this minor version)."""

Manifest = dict[str, Any]


def kustomize_command() -> list[str]:
    pinned = REPO / ".cache" / "bin" / "kustomize"
    if pinned.exists():
        return [str(pinned), "build"]
    if found := shutil.which("kustomize"):
        return [found, "build"]
    if found := shutil.which("kubectl"):
        return [found, "kustomize"]
    raise RuntimeError("no kustomize: `make install` builds it into .cache/bin")


def render(directory: Path) -> list[Manifest]:
    result = subprocess.run(
        [*kustomize_command(), str(directory)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(f"kustomize build {directory} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@contextmanager
def composed(
    resources: Sequence[Path], components: Sequence[Path] = (), patches: Sequence[str] = ()
) -> Iterator[Path]:
    """A throwaway kustomization on top of ours (kustomize takes relative paths only)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)

        def rel(path: Path) -> str:
            return os.path.relpath(path, root)

        spec: dict[str, Any] = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [rel(p) for p in resources],
        }
        if components:
            spec["components"] = [rel(p) for p in components]
        if patches:
            spec["patches"] = [{"patch": p} for p in patches]
        (root / "kustomization.yaml").write_text(yaml.safe_dump(spec))
        yield root


def schema_errors(manifests: Sequence[Manifest]) -> list[str]:
    """Every manifest against its schema; returns one line per violation."""
    errors: list[str] = []
    for doc in manifests:
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        crd = CRD_SCHEMAS.get((doc.get("apiVersion"), doc.get("kind")))
        if crd is not None:
            validator = jsonschema.Draft202012Validator(crd)
            errors += [
                f"{name}: {'.'.join(map(str, e.path))}: {e.message}"
                for e in validator.iter_errors(doc)
            ]
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{name}: {'.'.join(map(str, e.path))}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            errors.append(f"{name}: no schema: {e.message}")
    return errors


def of_kind(manifests: Sequence[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}
