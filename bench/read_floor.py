"""The floor of a read at 16 connections on this machine: what no query-api change can beat.

Issue 12's read targets (a page p99 <= 20 ms at 16 keep-alive connections) are met or missed
on two cores shared by the load generator (wrk), the server's worker processes and PostgreSQL.
This bench serves pages with less than query-api does and measures them the same way
(``bench.prompt_list.concurrent``: wrk, ``BENCH_SECONDS`` a load, the server's and
PostgreSQL's CPU per request), so query-api's figures can be read against them:

1. ``static``: the smallest server, ``bench.floor_app`` (raw ASGI, uvicorn with uvloop and
   eventkit's one-write protocol, two worker processes) answering a page of JSON from memory;
2. ``database``: the same server reading the page by primary key from PostgreSQL (one
   statement on an asyncpg pool): the least a stored document's read costs;
3. ``query-api /healthz``: query-api itself (two workers, its middleware stack, its consumers
   idle) answering its health check: its cost before any page is read.

    uv run python -m bench.read_floor [--durable] [--body-bytes 40000] [--workers 2]

Without ``--durable`` it uses the running stack; with it, a private PostgreSQL (fsync on) and
Kafka (query-api needs one to start), deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
from typing import Any

import asyncpg

from bench.floor_app import PAGES, page_body
from bench.prompt_list import (
    chosen_infra,
    concurrent,
    database_name,
    start_query_api,
    stop_query_api,
    wait_serving,
)
from promptworks_eventkit.db import asyncpg_dsn
from promptworks_eventkit.http_protocol import PROTOCOL
from tests.support.fake_openai import free_port
from tests.support.infra import Infra, create_database, drop_database, isolated_kafka, migrate

REQUESTS = 400
"""Distinct paths wrk cycles through (random page keys)."""


async def store_pages(url: str, size: int) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute("CREATE TABLE floor_pages (id int PRIMARY KEY, body bytea)")
        await connection.copy_records_to_table(
            "floor_pages", records=[(key, page_body(size, key)) for key in range(PAGES)]
        )
        await connection.execute("ANALYZE floor_pages")
    finally:
        await connection.close()


def start_floor(mode: str, url: str, port: int, size: int, workers: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FLOOR_MODE": mode,
        "FLOOR_DSN": asyncpg_dsn(url),
        "FLOOR_BODY_BYTES": str(size),
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "bench.floor_app:app"]
    options = ["--port", str(port), "--workers", str(workers), "--http", PROTOCOL]
    quiet = ["--loop", "uvloop", "--no-access-log", "--log-level", "warning"]
    return subprocess.Popen([*command, *options, *quiet], env=env)


async def measured(
    server: subprocess.Popen[bytes], port: int, path: str, database: str | None
) -> dict[str, Any]:
    """wrk's figures at 1 and at 16 connections (after a warm-up at 16)."""
    base = f"http://127.0.0.1:{port}"
    await wait_serving(base)
    rng = random.Random(5)

    def params(_: int) -> dict[str, Any]:
        return {"page": rng.randrange(PAGES)}

    await concurrent(base, {}, path, params, REQUESTS, 16, server)  # warm-up, not reported
    return {
        f"{n} connection{'s' if n > 1 else ''}": await concurrent(
            base, {}, path, params, REQUESTS, n, server, database=database
        )
        for n in (1, 16)
    }


async def main(infra: Infra, size: int, workers: int) -> dict[str, Any]:
    url = await create_database(infra, "read_floor")
    report: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "workers": workers,
        "body_bytes": len(page_body(size, 0)),
    }
    try:
        await store_pages(url, size)
        for mode in ("static", "database"):
            port = free_port()
            server = start_floor(mode, url, port, size, workers)
            try:
                report[mode] = await measured(server, port, "/page", database_name(url))
            finally:
                server.terminate()
                server.wait(timeout=60)
        kafka = await isolated_kafka(infra)
        await migrate("query-api", url)
        port = free_port()
        server = start_query_api(url, kafka, port, workers=workers)
        try:
            report["query-api /healthz"] = await measured(server, port, "/healthz", None)
        finally:
            stop_query_api(server)
    finally:
        await drop_database(infra, url)
    report["load_average_at_end"] = [round(x, 1) for x in os.getloadavg()]
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--durable", action="store_true", help="a private PostgreSQL with fsync on (see above)"
    )
    parser.add_argument(
        "--body-bytes",
        type=int,
        default=40_000,
        help="each page's size (a results page of 50: ~39.5 KB)",
    )
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    args = parser.parse_args()
    print("load average at start:", [round(x, 1) for x in os.getloadavg()], flush=True)
    with chosen_infra(args.durable) as infra:
        print(json.dumps(asyncio.run(main(infra, args.body_bytes, args.workers)), indent=2))
