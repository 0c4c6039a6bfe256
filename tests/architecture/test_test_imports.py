"""Tests of one service import no other service's package: they talk to it over HTTP or
Kafka, as production does. import-linter (``.importlinter``) checks the source packages; test
directories are not packages it can analyse, so this reads their imports itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICES = {
    "prompt-service": "prompt_service",
    "run-orchestrator": "run_orchestrator",
    "evaluator": "evaluator",
    "query-api": "query_api",
}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_a_services_tests_import_no_other_service(service: str) -> None:
    others = {package for name, package in SERVICES.items() if name != service}
    offenders = {
        str(path.relative_to(REPO)): sorted(imported_roots(path) & others)
        for path in sorted((REPO / "services" / service / "tests").rglob("*.py"))
        if imported_roots(path) & others
    }
    assert offenders == {}, f"tests of {service} import other services: {offenders}"


def test_the_checker_sees_an_import_of_another_service(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import os\nfrom prompt_service.app import create_app\nfrom . import x\n")
    assert imported_roots(probe) == {"os", "prompt_service"}
