"""The web console in a real browser through the real stack (ADR 0018): headless Debian chromium
driven by puppeteer-core (``web/e2e/console.mjs``) against query-api serving the console's
build, the four services running as processes. It signs in, creates a prompt and a second
version, diffs them, starts a batch on the mock provider, follows its progress, opens the
results, compares the two versions and reads the cost; the editor's live preview follows the
typed template; a catalog provider is registered, changed and removed; an evaluator is created
and versioned; a refusal is shown by its field and a lost connection with a retry. Screenshots
of every screen go to a temporary folder, or to the folder `PROMPTWORKS_SCREENSHOTS` names
(`make screenshots` refreshes docs/screenshots/ so), so the suite leaves the committed images
alone."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from devstack.services import Stack

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "web"


async def test_the_console_does_the_whole_job_in_a_browser(stack: Stack, tmp_path: Path) -> None:
    shots = Path(os.environ.get("PROMPTWORKS_SCREENSHOTS") or tmp_path)
    assert (WEB / "dist" / "index.html").is_file(), "the console is not built: run make install"
    assert (WEB / "node_modules" / "puppeteer-core").is_dir(), "run make install"
    assert shutil.which("chromium"), "Debian's chromium is needed (make install puts it in)"
    process = await asyncio.create_subprocess_exec(
        "node",
        str(WEB / "e2e" / "console.mjs"),
        stack.url("query-api"),
        stack.admin_key,
        str(shots),
        cwd=WEB,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=180)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text
    assert "ALL OK" in text, text
    for screen in (
        "01-sign-in",
        "05-diff",
        "07-batch-progress",
        "09-compare",
        "10-usage",
        "17-evaluators",
    ):
        assert (shots / f"{screen}.png").stat().st_size > 10_000, screen


async def test_the_console_logic_passes_its_unit_tests() -> None:
    """vitest on the console's client-side logic (diffing, case parsing, error-to-field
    mapping, i18n catalogs, the SSE parser, the cost estimate), so `make test` runs it too."""
    assert (WEB / "node_modules" / ".bin" / "vitest").exists(), "run make install"
    process = await asyncio.create_subprocess_exec(
        str(WEB / "node_modules" / ".bin" / "vitest"),
        "run",
        cwd=WEB,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text
    assert " failed" not in text and "Tests " in text, text
