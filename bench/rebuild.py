"""Benchmark: ``query-api rebuild`` from N events (issue 12: 1,000,000 events at >= 20,000/s).

1. Produces a mix to Kafka as real CloudEvents: a third prompt catalogue (``bench.prompt_data``:
   classes, tags, prompts with versions, labels, archives) and two thirds finished, evaluated
   runs of 10,000 results (``bench.results_read.run_events``: a ResultRecorded and a
   ResultEvaluated with three metrics per result).
2. Migrates a fresh query-api database and runs the rebuild in this process (the code behind
   ``python -m query_api rebuild``): replay into ``read_models_next``, the remaining indexes,
   catch-up, switch. No live query-api runs beside it (the switch then has nothing to wait
   for); the tests cover the rebuild beside live replicas.
3. Prints the replay's events/s (from the beginning to the end offsets), its CPU seconds and
   µs per event (the replaying processes'; with ``--durable`` PostgreSQL's too, up to the end
   of the replay proper), the whole rebuild's wall time, ``nproc`` and the load average;
   with several processes, the largest one's peak RSS. Several ``--processes`` values
   rebuild the same events once each, in order.

    uv run python -m bench.rebuild [--events 1000000] [--durable] [--processes 1 2]
        [--profile rebuild.prof] [--statements 15]

``--statements N`` (with ``--durable``): the private server preloads ``pg_stat_statements`` and
each rebuild reports the N statements PostgreSQL spent most time in, per 1,000 replayed events
(the whole rebuild's: the replay's statements, then making the tables logged and the indexes).

Without ``--durable`` it uses the running stack (``KAFKA_BOOTSTRAP_SERVERS`` and
``DATABASE_URL_BASE``: the shared test stack runs with ``fsync`` off). With ``--durable``, a
private PostgreSQL + Kafka with durable settings (``tests/support/private_infra.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
from pydantic import SecretStr

from bench.e2e_run import add_statements_argument, statement_stats, with_statement_stats
from bench.machine import python_gauge_seconds
from bench.prompt_data import produce_catalogue
from bench.results_read import produce, run_events
from promptworks_eventkit.settings import KafkaSettings
from query_api.rebuild.replay import rebuild
from query_api.settings import QueryApiSettings
from tests.support.infra import (
    Infra,
    create_database,
    drop_database,
    isolated_kafka,
    migrate,
    start_infra,
)
from tests.support.private_infra import running_private_infra

RESULTS_PER_RUN = 10_000
EVENTS_PER_PROMPT = 3.3  # bench.prompt_data: 330,307 events for 100,000 prompts


async def produce_mix(kafka: KafkaSettings, events: int) -> int:
    """About ``events`` events, a third prompts, the rest runs; the number produced."""
    catalogue = await produce_catalogue(kafka, max(1, int(events / 3 / EVENTS_PER_PROMPT)))
    produced = catalogue.events
    while produced < events:
        results = min(RESULTS_PER_RUN, max(10, (events - produced) // 2))
        _, run = run_events(results)
        await produce(kafka, run)
        produced += len(run)
    return produced


def postgres_cpu(marker: str | None) -> float:
    """CPU seconds of the private PostgreSQL server whose command line names ``marker`` (its
    directory): the postmaster's and those of the backends it reaped. None of a shared server
    (its CPU is not only ours)."""
    if marker is None:
        return 0.0
    total = 0.0
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            line = " ".join(process.info["cmdline"] or ())
            if marker in line and " -D " in f" {line} ":
                times = process.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
                for child in process.children():  # backends still running
                    with contextlib.suppress(psutil.Error):
                        child_times = child.cpu_times()
                        total += child_times.user + child_times.system
    return total


@contextlib.contextmanager
def infra_of(durable: bool, statements: bool = False) -> Iterator[tuple[Infra, str | None]]:
    """The stack, and (durable) the private PostgreSQL's directory, to find its processes
    (``statements``: with ``pg_stat_statements`` preloaded)."""
    if not durable:
        yield start_infra(), None
        return
    settings = {"shared_preload_libraries": "'pg_stat_statements'"} if statements else {}
    with (
        tempfile.TemporaryDirectory(prefix="pw-bench-rebuild-") as state,
        running_private_infra(Path(state), pg_settings=settings) as private,
    ):
        # The cluster lives where the state's `pg` link points (deploy/local/infra.sh).
        cluster = os.path.realpath(Path(state) / "pg")
        yield Infra(private.database_url_base, private.kafka_bootstrap_servers), cluster


@contextlib.contextmanager
def profiled(path: str | None) -> Iterator[None]:
    if path is None:
        yield
        return
    profile = cProfile.Profile(time.process_time)  # CPU time: the machine is shared
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        profile.dump_stats(path)


async def main(
    events: int,
    infra: Infra,
    marker: str | None,
    profile: str | None,
    processes: list[int],
    statements: int = 0,
) -> Any:
    """Produces the mix once, then rebuilds once per entry of ``processes`` (each rebuild
    replays every topic from the beginning: the previous one's models are the live ones)."""
    if statements:
        await with_statement_stats(infra)
    kafka = await isolated_kafka(infra)
    url = await create_database(infra, "query_api_bench")
    runs = []
    try:
        await migrate("query-api", url)
        started = time.perf_counter()
        produced = await produce_mix(kafka, events)
        producing = time.perf_counter() - started
        settings = QueryApiSettings(database_url=SecretStr(url), kafka=kafka)
        for spread in processes:
            print("load average before the rebuild:", [round(x, 1) for x in os.getloadavg()])
            if statements:
                await statement_stats(infra, 0, 1)  # reset: the production's are not ours
            runs.append(await measured(settings, marker, profile, spread))
            if statements:
                replayed = runs[-1]["replay"]["events"]
                runs[-1]["statements"] = await statement_stats(infra, statements, replayed)
    finally:
        await drop_database(infra, url)
    return {
        "nproc": os.cpu_count(),
        "python_gauge_seconds": python_gauge_seconds(),
        "events": produced,
        "produce_seconds": round(producing, 1),
        "rebuilds": runs,
    }


async def measured(
    settings: QueryApiSettings, marker: str | None, profile: str | None, processes: int
) -> dict[str, Any]:
    """One rebuild: its replay's events/s and CPU (the processes', PostgreSQL's) per event."""
    pg_before = postgres_cpu(marker)
    pg_replayed: list[float] = []

    def echo(line: str) -> None:
        print(line, flush=True)
        if "] replayed " in line:  # the replay proper is done: PostgreSQL's CPU for it
            pg_replayed.append(postgres_cpu(marker))

    with profiled(profile):
        report = await rebuild(settings, keep_previous=False, echo=echo, processes=processes)
    pg_cpu = postgres_cpu(marker) - pg_before
    timings = report.timings
    pg_replay = pg_replayed[0] - pg_before if marker and pg_replayed else None
    per_event = 1e6 / max(timings.replay_events, 1)
    return {
        "processes": processes,
        "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
        "replay": {
            "events": timings.replay_events,
            "seconds": round(timings.replay_seconds, 1),
            "events_per_second": round(timings.events_per_second),
            "cpu_seconds_rebuild_processes": round(timings.replay_cpu_seconds, 1),
            "cpu_seconds_postgres": None if pg_replay is None else round(pg_replay, 1),
            "cpu_us_per_event_rebuild_processes": round(timings.replay_cpu_seconds * per_event),
            "cpu_us_per_event_postgres": None
            if pg_replay is None
            else round(pg_replay * per_event),
            # The largest replaying process's peak (with one process the replay runs in this
            # one, beside the production: not reported).
            "peak_rss_mib_largest_replay_process": None
            if timings.peak_rss_mib is None
            else round(timings.peak_rss_mib),
        },
        "rebuild_total": {
            "seconds": round(report.seconds, 1),
            "cpu_seconds_rebuild_process": round(report.cpu_seconds, 1),
            "cpu_seconds_postgres": round(pg_cpu, 1) if marker else None,
            "live_projection_paused_seconds": round(timings.fence_seconds, 3),
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--durable", action="store_true", help="a private PostgreSQL with fsync on (see above)"
    )
    parser.add_argument("--profile", help="write a cProfile of the rebuild to this file")
    parser.add_argument(
        "--processes",
        type=int,
        nargs="+",
        default=[1],
        help="processes the replay is spread over; several values: one rebuild each, in order, "
        "of the same events",
    )
    add_statements_argument(parser)
    args = parser.parse_args()
    if args.statements and not args.durable:
        parser.error("--statements needs --durable (a private server)")
    print("load average at start:", [round(x, 1) for x in os.getloadavg()], flush=True)
    with infra_of(args.durable, args.statements > 0) as (infra, marker):
        print(
            json.dumps(
                asyncio.run(
                    main(args.events, infra, marker, args.profile, args.processes, args.statements)
                ),
                indent=2,
            )
        )
