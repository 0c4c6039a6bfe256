"""Writes query-api's OpenAPI document, the source of the TypeScript client
(``clients/typescript/openapi.json``; ``make client`` then regenerates its types).

``python -m query_api.openapi_export [FILE]``. Building the app touches no database or broker.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from query_api.app import create_app
from query_api.settings import QueryApiSettings


def document() -> dict[str, Any]:
    settings = QueryApiSettings(database_url=SecretStr("postgresql+asyncpg://unused@127.0.0.1/x"))
    return create_app(settings).openapi()


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m query_api.openapi_export FILE", file=sys.stderr)
        return 2
    Path(argv[0]).write_text(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
