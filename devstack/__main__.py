"""`python -m devstack up|demo|down|status`: the local stack's services (infra via infra.sh)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from devstack.demo import run_demo
from devstack.services import REPO, PortTakenError, Stack, new_admin_key

ADMIN_KEY_FILE = "admin-key"
"""In the state directory (``.local``): the local bootstrap admin key, for the demo and a CLI."""

app = typer.Typer(add_completion=False, no_args_is_help=True)
console = Console()


def local_stack() -> Stack:
    pg_port = os.environ.get("PROMPTWORKS_PG_PORT", "54329")
    kafka_port = os.environ.get("PROMPTWORKS_KAFKA_PORT", "19092")
    state = Path(os.environ.get("PROMPTWORKS_STATE_DIR", REPO / ".local"))
    return Stack(
        service_token=_kept_secret(state / "service-token", lambda: secrets.token_urlsafe(32)),
        admin_key=_kept_secret(state / ADMIN_KEY_FILE, new_admin_key),
        database_url_base=os.environ.get(
            "DATABASE_URL_BASE", f"postgresql+asyncpg://promptworks:promptworks@127.0.0.1:{pg_port}"
        ),
        kafka_bootstrap_servers=os.environ.get(
            "KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{kafka_port}"
        ),
        run_dir=state / "services",
        extra_env={"run-orchestrator": {"PROVIDERS": os.environ.get("PROVIDERS", "{}")}},
    )


def _kept_secret(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in ``path`` (made on first use, readable by its owner only), so the
    services, the demo and a CLI all use the same one across commands."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(value + "\n")
    return value


@app.command()
def up() -> None:
    """Migrate every database, create the topics, start the four services, wait until ready."""
    stack = local_stack()
    with console.status("migrating databases"):
        stack.migrate()
    with console.status("creating topics"):
        stack.create_topics()
    with console.status("starting services"):
        stack.start_all()
        try:
            stack.wait_ready()
        except PortTakenError as taken:
            stack.stop_all()  # what this command started; never the other process
            console.print(f"[red]{taken}[/red]")
            raise typer.Exit(1) from taken
    console.print("[green]services ready[/green]")


@app.command()
def demo() -> None:
    """Create a prompt and a run on the mock model through query-api; print its metrics."""
    stack = local_stack()
    with console.status("running the demo"):
        run, results = run_demo(stack.url("query-api"), stack.admin_key)
    table = Table(title=f"demo run {run['id']} ({run['status']})")
    for column in ("case", "rep", "output", "metrics"):
        table.add_column(column, overflow="fold")
    for result in results:
        table.add_row(
            str(result["case_index"]),
            str(result["repetition"]),
            result["output"][:40],
            _metrics_summary(result["metrics"]),
        )
    console.print(table)
    base = stack.url("query-api")
    console.print(
        f"\nconsole:     {stack.console_url()}   (signs in as the admin; web/)\n"
        f"query-api:   {base}   (docs {base}/docs, OpenAPI {base}/api/v1/openapi.json)\n"
        f"results:     {base}/api/v1/test_prompt/{run['id']}/results\n"
        f"admin key:   {stack.admin_key}   (kept in {stack.run_dir.parent / ADMIN_KEY_FILE}; "
        "send it as `Authorization: Bearer <key>`)\n"
        f"services:    {stack.describe()}\n"
        f"logs:        {stack.run_dir}/*.log\n"
        "stop:        make down"
    )


def _metrics_summary(metrics: list[dict[str, Any]]) -> str:
    """Assertions as pass/fail, plus latency and tokens; the API has every metric."""
    shown = []
    for metric in metrics:
        if metric["passed"] is not None and metric["name"] != "error":
            shown.append(f"{metric['name']}={'pass' if metric['passed'] else 'fail'}")
        elif metric["name"] in ("latency_ms", "total_tokens") and metric["value"] is not None:
            shown.append(f"{metric['name']}={metric['value']:.3g}")
    return ", ".join(shown)


@app.command()
def down() -> None:
    """Stop the services started by `up`."""
    local_stack().stop_all()
    console.print("services stopped")


@app.command()
def status() -> None:
    stack = local_stack()
    for spec in stack.specs:
        state = "running" if stack.is_running(spec.name) else "stopped"
        console.print(f"{spec.name:17} {state:8} {stack.url(spec.name)}")


if __name__ == "__main__":
    app()
