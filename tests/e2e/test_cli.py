"""The ``promptworks`` CLI as a CI job runs it: its installed entry point, as a process, against
the four services on real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from devstack.services import Stack
from promptworks_cli.main import app
from tests.e2e.conftest import unique

pytestmark = pytest.mark.e2e

PROMPTWORKS = Path(sys.executable).parent / "promptworks"


class Cli:
    """Runs ``promptworks``: in this process by default (its startup costs about a second of
    CPU per command), or with ``process=True`` as the installed entry point, as a CI job does."""

    def __init__(self, stack: Stack, home: Path) -> None:
        self.home = home
        self.stack = stack
        self.env = {
            "PROMPTWORKS_URL": stack.url("query-api"),
            "PROMPTWORKS_CONFIG": str(home / "config.yaml"),
            # The stack's bootstrap admin key, sent by the CLI as a Bearer token.
            "PROMPTWORKS_API_KEY": stack.admin_key,
            "PROMPTWORKS_API_KEY_FILE": None,
            "COLUMNS": "200",
        }

    async def __call__(self, *args: str, code: int = 0, process: bool = False) -> Any:
        if process:
            env = {k: v for k, v in {**os.environ, **self.env}.items() if v is not None}
            done: Any = await asyncio.to_thread(
                subprocess.run,
                [str(PROMPTWORKS), *args],
                env=env,
                cwd=self.home,
                capture_output=True,
                text=True,
                timeout=120,
            )
            returncode = done.returncode
            assert returncode == code, self._diagnosis(args, returncode, done.stderr, env)
        else:
            done = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=self.env)
            returncode = done.exit_code
        assert returncode == code, f"{args}: exit {returncode}\n{done.stderr}"
        return done

    def _diagnosis(self, args: Any, returncode: int, stderr: str, env: dict[str, str]) -> str:
        """A process's failure with what it was given (variable names, not secrets) and the
        end of query-api's log: a once-seen 401 for the stack's own key left nothing else."""
        given = sorted(k for k in env if k.startswith("PROMPTWORKS_") or "proxy" in k.lower())
        same_key = env.get("PROMPTWORKS_API_KEY") == self.stack.admin_key
        log = self.stack.log_file("query-api")
        tail = log.read_text(errors="replace").splitlines()[-30:] if log.exists() else []
        head = [f"{args}: exit {returncode}", stderr, f"environment: {given}"]
        return "\n".join(
            [*head, f"the stack's admin key: {same_key}", "query-api's log, last lines:", *tail]
        )

    async def json(self, *args: str, code: int = 0, process: bool = False) -> Any:
        return json.loads((await self("--json", *args, code=code, process=process)).stdout)

    def write(self, name: str, text: str) -> Path:
        path = self.home / name
        path.write_text(text)
        return path


@pytest.fixture
def cli(stack: Stack, tmp_path: Path) -> Cli:
    return Cli(stack, tmp_path)


async def test_push_label_run_gate_export_and_batch(cli: Cli) -> None:
    name = unique("cli greeting")
    prompt_md = f"""---
name: {name}
class: cli
variables: [{{name: name}}]
label: production
---
Say hello to {{{{ name }}}}
"""
    path = cli.write("greeting.md", prompt_md)
    [created] = await cli.json("prompts", "push", str(path))
    assert (created["current_version"]["number"], created["labels"]["production"]) == (1, 1)
    again = await cli("prompts", "push", str(path))
    assert "unchanged" in again.stderr
    cli.write("greeting.md", prompt_md.replace("Say hello", "Greet"))
    [changed] = await cli.json("prompts", "push", str(path))
    assert (changed["current_version"]["number"], changed["labels"]["production"]) == (2, 2)
    # Roll the label back to v1: the run below resolves production to v1.
    await cli("labels", "set", name, "production", "1", "--message", "back")
    versions = await cli.json("prompts", "versions", name)
    assert [v["number"] for v in versions] == [2, 1]

    spec = {
        "prompt": name,
        "label": "production",
        "provider": "mock",
        "model_name": "echo",
        "cases": [{"name": "Ada"}, {"name": "Grace"}],
        "assertions": [{"type": "contains", "value": "{{ name }}", "name": "mentions_name"}],
        "gate": {"min_pass_rate": 1.0},
    }
    good_spec = cli.write("good.yaml", yaml.safe_dump(spec))
    good = await cli.json("run", "start", str(good_spec), process=True)
    assert (good["status"], good["label"], good["prompt_version_number"]) == (
        "completed",
        "production",
        1,
    )
    assert good["evaluation_summary"]["pass_rate"] == 1.0
    assert good["gate"] == {"passed": True, "reasons": []}

    # A worse prompt: below the threshold and a regression from the good run, exit 1.
    worse = {**spec, "assertions": [{"type": "contains", "value": "Linus", "name": "linus"}]}
    worse_spec = cli.write("worse.yaml", yaml.safe_dump({**worse, "gate": {}}))
    failed = await cli.json(
        "run", "start", str(worse_spec), "--min-pass-rate", "0.9", "--baseline", good["id"],
        code=1, process=True,
    )  # fmt: skip
    reasons = failed["gate"]["reasons"]
    assert failed["gate"]["passed"] is False and len(reasons) == 2
    assert "below 90.0%" in reasons[0] and "regression" in reasons[1]
    # The same gate later, on the finished run; a tolerance large enough passes it.
    await cli("run", "gate", failed["id"], "--baseline", good["id"], code=1)
    await cli("run", "gate", failed["id"], "--baseline", good["id"], "--max-regression", "1")

    jsonl = (await cli("run", "results", good["id"], "--format", "jsonl")).stdout.splitlines()
    outputs = sorted(json.loads(line)["output"] for line in jsonl)
    assert len(outputs) == 2 and "Ada" in outputs[0] and "Grace" in outputs[1]
    await cli("run", "results", failed["id"], "--format", "csv", "-o", str(cli.home / "failed.csv"))
    rows = (cli.home / "failed.csv").read_text().splitlines()
    assert rows[0].startswith("case_index,repetition,output") and len(rows) == 3
    assert all(row.endswith(",linus") for row in rows[1:])
    table = (await cli("run", "show", good["id"])).stdout
    assert "completed" in table and "mentions_name" in table

    batch_spec = {
        "versions": [{"prompt": name, "label": "production"}, {"prompt": name, "label": "latest"}],
        "models": [{"provider": "mock", "model_name": "echo"}],
        "cases": spec["cases"],
        "assertions": spec["assertions"],
    }
    batch = await cli.json(
        "batch", "start", str(cli.write("batch.yaml", yaml.safe_dump(batch_spec))),
        "--min-pass-rate", "1",
    )  # fmt: skip
    assert batch["status"] == "completed" and batch["gate"]["passed"] is True
    assert [c["prompt_version_number"] for c in batch["cells"]] == [1, 2]

    # Advice on the failing run from the mock judge, its revision saved as version 3.
    advised = await cli.json(
        "advise", failed["id"], "--focus", "mention Linus", "--apply", "--label", "advised"
    )
    assert advised["status"] == "given" and advised["saved_version"] == 3
    assert advised["advice"]["prompt_revision"]["kind"] == "text"
    shown = (await cli("advise", failed["id"])).stdout
    assert "Validation plan" in shown and "Revised template" in shown


async def test_refusals_and_unknown_names_exit_with_their_codes(cli: Cli) -> None:
    missing = await cli("run", "show", str(uuid.uuid4()), code=3)
    assert "404" in missing.stderr
    await cli("run", "show", str(uuid.uuid4()), code=3, process=True)
    await cli("labels", "set", unique("no such prompt"), "production", "1", code=2)
    bad = cli.write("bad.yaml", yaml.safe_dump({"prompt_version_id": "nope", "gate": {}}))
    refused = await cli("run", "start", str(bad), code=3)
    assert "422" in refused.stderr and "prompt_version_id" in refused.stderr
    await cli("run", "start", str(cli.write("list.yaml", "- 1\n")), code=2)
    # Without a key (none saved, none in the working directory) query-api refuses: 401.
    cli.env["PROMPTWORKS_API_KEY"] = None
    refused = await cli("prompts", "list", code=3)
    assert "401" in refused.stderr
    # A saved configuration is used by later commands (here: a wrong URL, so unreachable).
    await cli("configure", "--url", "http://127.0.0.1:9")
    cli.env["PROMPTWORKS_URL"] = None
    down = await cli("prompts", "list", code=3)
    assert "unreachable" in down.stderr
