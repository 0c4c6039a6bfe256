"""Where the CLI finds the API and its key, and that the key travels as a Bearer token: against
a real HTTP server on loopback that records what it receives (no infrastructure needed)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from promptworks_cli import config
from promptworks_cli.main import app


class Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def do_GET(self) -> None:
        Recorder.seen.append(
            {
                "path": self.path,
                "authorization": self.headers["Authorization"],
                "project": self.headers["X-Project"],
            }
        )
        body = json.dumps([]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Recorder.seen.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def env(tmp_path: Path, **values: str | None) -> dict[str, str | None]:
    base: dict[str, str | None] = {
        "PROMPTWORKS_URL": None,
        "PROMPTWORKS_API_KEY": None,
        "PROMPTWORKS_API_KEY_FILE": None,
        "PROMPTWORKS_PROJECT": None,
        "PROMPTWORKS_CONFIG": str(tmp_path / "config.yaml"),
    }
    return {**base, **values}


def test_the_key_is_sent_as_a_bearer_token_from_each_source(
    api_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .local/admin-key here
    runner = CliRunner()
    listing = ["prompts", "list", "--json"]

    def authorization(*args: str, **values: str | None) -> str | None:
        result = runner.invoke(app, [*args, *listing], env=env(tmp_path, **values))
        assert result.exit_code == 0, result.stderr
        return Recorder.seen[-1]["authorization"]  # type: ignore[no-any-return]

    assert authorization(PROMPTWORKS_URL=api_url) is None
    assert authorization(PROMPTWORKS_URL=api_url, PROMPTWORKS_API_KEY="k-env") == "Bearer k-env"
    assert authorization("--url", api_url, "--api-key", "k-flag") == "Bearer k-flag"
    (tmp_path / "key").write_text("k-file\n")
    assert authorization(PROMPTWORKS_URL=api_url, PROMPTWORKS_API_KEY_FILE="key") == "Bearer k-file"
    (tmp_path / ".local").mkdir()
    (tmp_path / ".local" / "admin-key").write_text("k-dev\n")
    assert authorization(PROMPTWORKS_URL=api_url) == "Bearer k-dev"
    # A saved configuration (mode 0600) comes before the development key.
    saved = runner.invoke(
        app, ["configure", "--url", api_url, "--api-key", "k-saved"], env=env(tmp_path)
    )
    assert saved.exit_code == 0 and (tmp_path / "config.yaml").stat().st_mode & 0o777 == 0o600
    assert authorization() == "Bearer k-saved"
    assert Recorder.seen[-1]["path"].startswith("/api/v1/prompts?")
    monkeypatch.setenv("PROMPTWORKS_CONFIG", str(tmp_path / "config.yaml"))
    resolved = config.resolve(None, None, None)
    assert resolved.api_key == "k-saved" and "k-saved" not in repr(resolved)


def test_the_project_is_sent_as_x_project_when_named(api_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    listing = ["prompts", "list", "--json"]
    for args, values, expected in (
        ([], {}, None),  # the key's default project
        (["--project", "support"], {}, "support"),
        ([], {"PROMPTWORKS_PROJECT": "billing"}, "billing"),
    ):
        result = runner.invoke(
            app, ["--url", api_url, *args, *listing], env=env(tmp_path, **values)
        )
        assert result.exit_code == 0, result.stderr
        assert Recorder.seen[-1]["project"] == expected
