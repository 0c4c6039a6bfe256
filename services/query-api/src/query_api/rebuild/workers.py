"""The replay proper spread over processes: each replays its share of the partitions into
``read_models_next`` with the live projection's code (ADR 0023, addendum of the fourth round).

Shares keep together what the handlers need applied by one writer:
- every partition of the prompt topic (the catalogue's handlers write across streams: a class
  or tag deleted touches the prompts naming it, which READ COMMITTED would not serialise with a
  concurrent creation the way one replay orders them);
- partition *p* of the run and evaluation topics: both are keyed by the run id and have the
  same partition count, so *p* holds every event of the same runs (a result's document depends
  on its run, its result and its evaluation). If their partition counts differ, the runs stay
  in one share.
Shares are given to processes largest first, each to the least loaded one. A process is
forked from a fork server (``forkserver``): a fresh interpreter of its own that imported the
replay's modules once, so no event loop, connection or Kafka client crosses over, and a
process starts without importing them again (an interpreter and its imports cost each
``spawn``ed process 2.3-2.9 s of CPU, measured) and exits without tearing its heap down.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import resource
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import forkserver
from multiprocessing.context import BaseContext

from aiokafka import TopicPartition

from promptworks_contracts.topics import EVALUATION_EVENTS, PROMPT_EVENTS, RUN_EVENTS
from promptworks_eventkit.settings import KafkaSettings
from query_api.settings import QueryApiSettings

Ends = dict[TopicPartition, int]


@dataclass(frozen=True)
class ShareDone:
    events: int
    cpu_seconds: float
    started: float
    """When the process began its share and when it ended it (``time.time()``: one clock for
    every process), for the rebuild's account of its processes."""
    ended: float
    peak_rss_mib: float
    """The process's peak resident memory."""


RECORDS_PER_PROCESS = 50_000
"""Below this many records a process more costs more than it saves (the fork server's imports,
once, then each process's connections and Kafka client: a few seconds on a busy machine)."""


def processes_for(records: int, asked: int | None) -> int:
    """``asked``, or (None) as many as the CPUs and the records warrant."""
    if asked is not None:
        return asked
    return max(1, min(default_processes(), records // RECORDS_PER_PROCESS))


def may_spread(asked: int | None) -> bool:
    """Whether ``processes_for`` can come to more than one process (whatever the records):
    if not, the rebuild needs no fork server."""
    return (asked if asked is not None else default_processes()) > 1


def default_processes() -> int:
    """The CPUs this process may use (its affinity, and a cgroup v2 quota such as a
    Kubernetes limit), at most 8."""
    cpus = len(os.sched_getaffinity(0))
    try:
        with open("/sys/fs/cgroup/cpu.max") as limit:
            quota, period = limit.read().split()
        if quota != "max":
            cpus = min(cpus, max(1, int(quota) // int(period)))
    except (OSError, ValueError):
        pass  # no cgroup v2 limit readable: the affinity alone
    return max(1, min(cpus, 8))


def shares(kafka: KafkaSettings, ends: Ends) -> list[list[TopicPartition]]:
    """The indivisible groups of partitions (see the module), records to replay in each > 0."""
    prompt = kafka.topic(PROMPT_EVENTS)
    runs = {kafka.topic(RUN_EVENTS), kafka.topic(EVALUATION_EVENTS)}
    counts = {t: sum(1 for tp in ends if tp.topic == t) for t in runs}
    together = len(set(counts.values())) > 1  # not co-partitioned: one share for all runs
    groups: dict[object, list[TopicPartition]] = {}
    for tp in sorted(ends):
        if tp.topic == prompt:
            key: object = "prompts"
        elif tp.topic in runs:
            key = "runs" if together else ("runs", tp.partition)
        else:
            key = ("other", tp.topic)  # a topic this module does not know: kept whole
        groups.setdefault(key, []).append(tp)
    return [g for g in groups.values() if sum(ends[tp] for tp in g) > 0]


def assign(groups: Sequence[list[TopicPartition]], ends: Ends, processes: int) -> list[Ends]:
    """The groups spread over at most ``processes`` processes, largest first (by records)."""
    loads: list[tuple[int, Ends]] = [(0, {}) for _ in range(min(processes, len(groups)))]
    for group in sorted(groups, key=lambda g: -sum(ends[tp] for tp in g)):
        index = min(range(len(loads)), key=lambda i: loads[i][0])
        load, share = loads[index]
        share.update({tp: ends[tp] for tp in group})
        loads[index] = (load + sum(ends[tp] for tp in group), share)
    return [share for _, share in loads if share]


PRELOAD = ("query_api.rebuild.replay",)
"""What the fork server imports for its processes (the replay and everything it uses)."""


def _forkserver() -> BaseContext:
    """The fork server's context, told to import ``PRELOAD`` and this program's main module
    (``python -m``: a process imports it again to unpickle what it runs; with ``query_api``'s
    ``__main__`` it does not)."""
    main = getattr(sys.modules["__main__"].__spec__, "name", None)
    programs = [main] if main and not main.endswith("__main__") else []
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([*PRELOAD, *programs])
    return context


def prepare() -> None:
    """Starts the fork server, whose imports then run beside the rebuild's own setup."""
    _forkserver()
    forkserver.ensure_running()


async def replay_in_processes(settings: QueryApiSettings, work: Sequence[Ends]) -> list[ShareDone]:
    """Each share replayed up to its end offsets in a process of its own."""
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=len(work), mp_context=_forkserver()) as pool:
        return list(
            await asyncio.gather(
                *(
                    loop.run_in_executor(pool, _replay_share, settings, sorted(share.items()))
                    for share in work
                )
            )
        )


def _replay_share(
    settings: QueryApiSettings, targets: list[tuple[TopicPartition, int]]
) -> ShareDone:
    cpu, started = time.process_time(), time.time()
    events = asyncio.run(_replay(settings, dict(targets)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return ShareDone(events, time.process_time() - cpu, started, time.time(), peak)


async def _replay(settings: QueryApiSettings, targets: Ends) -> int:
    # Imported here: the replay module imports this one.
    from query_api.rebuild.replay import replay_share

    return await replay_share(settings, targets)
