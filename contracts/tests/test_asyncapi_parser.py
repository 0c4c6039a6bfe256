"""The committed AsyncAPI document passes the official AsyncAPI parser (``@asyncapi/parser``,
installed from npm into ``clients/typescript`` by ``make install``) with no error: outside
consumers' tooling can read the event contracts. Also proves the check can fail."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from promptworks_contracts.schemagen import DEFAULT_DIR

ROOT = Path(__file__).resolve().parents[2]
NODE_PROJECT = ROOT / "clients" / "typescript"
CHECK = NODE_PROJECT / "scripts" / "check-asyncapi.mjs"


def parse(document: Path) -> tuple[int, list[dict[str, Any]]]:
    node = shutil.which("node")
    assert node, "node is needed (make install puts it in)"
    assert (NODE_PROJECT / "node_modules" / "@asyncapi" / "parser").is_dir(), "run make install"
    done = subprocess.run(
        [node, str(CHECK), str(document)], capture_output=True, text=True, timeout=120
    )
    diagnostics = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return done.returncode, diagnostics


def test_the_asyncapi_document_has_no_parser_error() -> None:
    code, diagnostics = parse(DEFAULT_DIR / "asyncapi.json")
    errors = [d for d in diagnostics if d["severity"] == "error"]
    assert errors == [] and code == 0, json.dumps(errors, indent=1)


def test_a_broken_payload_schema_is_an_error(tmp_path: Path) -> None:
    for source in DEFAULT_DIR.glob("*.json"):
        shutil.copy(source, tmp_path / source.name)
    broken = tmp_path / "promptworks.prompt.created.v1.json"
    schema = json.loads(broken.read_text())
    schema["properties"]["name"]["type"] = 5
    broken.write_text(json.dumps(schema))
    code, diagnostics = parse(tmp_path / "asyncapi.json")
    assert code == 1
    assert any(d["path"] == ["properties", "name", "type"] for d in diagnostics), diagnostics
