"""``promptworks``: prompts, labels, runs and batches from a terminal or a CI job.

Exit codes: 0 done (and the gate passed), 1 the gate failed (a run failed, missed its
thresholds or regressed from its baseline), 2 a file or an option is wrong, 3 the API refused
or could not be reached.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from promptworks_cli import config
from promptworks_cli.advice import advise
from promptworks_cli.prompts import labels_app, prompts_app
from promptworks_cli.runs import batches_app, runs_app
from promptworks_cli.session import STATE, Json, err

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(prompts_app, name="prompts")
app.add_typer(labels_app, name="labels")
app.add_typer(runs_app, name="run")
app.add_typer(batches_app, name="batch")
app.command()(advise)


@app.callback()
def main(
    url: Annotated[
        str | None, typer.Option(envvar="PROMPTWORKS_URL", help="The API (query-api) base URL")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="PROMPTWORKS_API_KEY", help="Sent as Authorization: Bearer"),
    ] = None,
    api_key_file: Annotated[
        Path | None, typer.Option(envvar="PROMPTWORKS_API_KEY_FILE", help="A file with the key")
    ] = None,
    project: Annotated[
        str | None,
        typer.Option(envvar="PROMPTWORKS_PROJECT", help="The project to act in (X-Project)"),
    ] = None,
    as_json: Json = False,
) -> None:
    STATE.url, STATE.api_key, STATE.api_key_file, STATE.json = url, api_key, api_key_file, as_json
    STATE.project = project


@app.command()
def configure(
    url: Annotated[str | None, typer.Option(help="Save this API URL")] = None,
    api_key: Annotated[str | None, typer.Option(help="Save this API key")] = None,
    api_key_file: Annotated[Path | None, typer.Option(help="Save where the key is kept")] = None,
) -> None:
    """Save the API URL and key (or the key's file) for later commands (file mode 0600)."""
    path = config.save(url, api_key, api_key_file)
    err.print(f"saved {path}")


def run() -> None:
    app()
