"""What every command shares: the global options, the consoles, the exit codes, and a client's
lifetime (an API error ends the command with exit 3 and the fields it names)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from promptworks_cli import config
from promptworks_cli.client import ApiError, Client
from promptworks_cli.specs import SpecError

EXIT_GATE, EXIT_USAGE, EXIT_API = 1, 2, 3

out = Console(soft_wrap=True)
err = Console(stderr=True)


@dataclass
class State:
    url: str | None = None
    api_key: str | None = None
    api_key_file: Path | None = None
    project: str | None = None
    json: bool = False

    def client(self) -> Client:
        return Client(config.resolve(self.url, self.api_key, self.api_key_file, self.project))


STATE = State()

Json = Annotated[bool, typer.Option("--json", help="Print JSON documents instead of tables")]


def emit(document: Any, as_json: bool, table: Any) -> None:
    """``document`` as JSON (``--json``) or as ``table(document)``."""
    if as_json or STATE.json:
        out.print_json(json.dumps(document))
    else:
        out.print(table(document))


def load(loader: Any, path: Path) -> Any:
    """A spec or prompt file read by ``loader``; a bad file is a usage error (exit 2)."""
    try:
        return loader(path)
    except (OSError, SpecError, ValueError, TypeError) as error:
        usage(str(error))


def usage(message: str) -> Any:
    err.print(f"[red]{message}[/red]")
    raise typer.Exit(EXIT_USAGE)


@contextmanager
def connected() -> Iterator[Client]:
    """``with connected() as api``: a client for the global options. An API error ends the
    command with exit 3, printing the fields it names."""
    client = STATE.client()
    try:
        yield client
    except ApiError as error:
        err.print(f"[red]API error:[/red] {error}")
        for field in error.errors:
            err.print(f"  {field.get('field') or field.get('loc')}: {field.get('msg')}")
        raise typer.Exit(EXIT_API) from error
    finally:
        client.close()
