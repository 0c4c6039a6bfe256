"""Concurrent GETs driven by wrk (C, epoll): the load generator's own CPU stays small.

The httpx driver in ``bench.prompt_list.concurrent`` spends more CPU per request than query-api
does, on the same two cores, so at 16 connections its figures measure the client as much as the
server. wrk is Debian's ``wrk`` package (``apt-get install wrk``). Each connection sends the
next of a fixed list of paths (so random offsets stay random) for ``seconds``; a Lua ``done``
hook prints wrk's latency percentiles as JSON.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

LUA = """
local paths = {%(paths)s}
local counter = 0
%(headers)s
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
done = function(summary, latency, requests)
  io.write("WRK_JSON ", string.format(
    '{"p50": %%.3f, "p95": %%.3f, "p99": %%.3f, "max": %%.3f, "mean": %%.3f, '
    .. '"requests": %%d, "seconds": %%.3f, "non_2xx_3xx": %%d, "socket_errors": %%d}',
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, latency.mean / 1000,
    summary.requests, summary.duration / 1e6, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.timeout), "\\n")
end
"""


def available() -> bool:
    return shutil.which("wrk") is not None


def lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string of ASCII is a valid Lua string literal


def script(paths: list[str], headers: dict[str, str]) -> str:
    header_lines = "\n".join(
        f"wrk.headers[{lua_string(name)}] = {lua_string(value)}" for name, value in headers.items()
    )
    return LUA % {"paths": ", ".join(lua_string(p) for p in paths), "headers": header_lines}


def request_paths(path: str, params: list[dict[str, Any]]) -> list[str]:
    return [f"{path}?{urlencode(each)}" if each else path for each in params]


async def run_wrk(
    base_url: str,
    headers: dict[str, str],
    paths: list[str],
    connections: int,
    seconds: float,
    threads: int = 2,
) -> dict[str, Any]:
    """wrk's figures for ``connections`` keep-alive connections over ``threads`` threads."""
    with tempfile.TemporaryDirectory() as folder:
        lua = Path(folder) / "paths.lua"
        lua.write_text(script(paths, headers))
        process = await asyncio.create_subprocess_exec(
            "wrk",
            f"-t{min(threads, connections)}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "60s",
            "-s",
            str(lua),
            base_url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
    text = output.decode()
    line = next((x for x in text.splitlines() if x.startswith("WRK_JSON ")), None)
    if process.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({process.returncode}): {text[-2000:]}")
    report: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
    if report["non_2xx_3xx"] or report["socket_errors"]:
        raise RuntimeError(f"wrk saw failed requests: {report}")
    return report
