"""The TypeScript client (``clients/typescript``) is a real client of the API: its types are
generated (openapi-typescript, from npm) from query-api's OpenAPI document as committed, the
committed document and types are current, it type-checks (tsc), and a TS program built with it
creates a prompt, reads it back and reads errors from query-api running as a process."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from devstack.services import Stack
from query_api.openapi_export import render

pytestmark = pytest.mark.e2e

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "typescript"
BIN = CLIENT / "node_modules" / ".bin"


async def run(*command: str, cwd: Path = CLIENT) -> str:
    """``command`` in ``cwd``; its output, or the test fails showing it."""
    assert shutil.which("node"), "node is needed (make install puts it in)"
    assert BIN.is_dir(), "the npm tools are missing: run make install"
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=300)
    text = output.decode(errors="replace")
    assert process.returncode == 0, f"{' '.join(command)} failed:\n{text}"
    return text


async def test_the_committed_document_and_types_are_current(tmp_path: Path) -> None:
    assert (CLIENT / "openapi.json").read_text() == render(), "stale: run `make client`"
    generated = tmp_path / "schema.d.ts"
    await run(
        str(BIN / "openapi-typescript"),
        "openapi.json",
        "-o",
        str(generated),
        "--default-non-nullable",
        "false",
    )
    committed = (CLIENT / "src" / "schema.d.ts").read_text()
    assert generated.read_text() == committed, "stale: run `make client`"


async def test_a_typescript_program_uses_a_running_query_api(stack: Stack) -> None:
    await run(str(BIN / "tsc"), "-p", ".")  # type-checks, then builds into dist/
    output = await run("node", "dist/test/smoke.js", stack.url("query-api"), stack.admin_key)
    assert "FAILED" not in output
    assert "ok: the refusal names the field" in output  # the program's last check ran
