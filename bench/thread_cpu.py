"""A JVM's CPU by thread group (``jcmd <pid> Thread.print``): where the broker's time goes.

The broker's CPU in ``bench.e2e_run`` is one figure; its threads' names say whose it is:
``data-plane-kafka-request-handler-N`` (requests), ``data-plane-kafka-network-thread-...``
(sockets), ``C2 CompilerThread0`` / ``C1 CompilerThread0`` (the JIT), ``GC Thread#0`` /
``G1 ...`` (the collector). ``/proc`` truncates thread names to 15 characters (both of the
data plane's kinds read ``data-plane-kafk``), so the JVM is asked: Thread.print gives each
thread's full name and its CPU. Numbers and what follows them are dropped, so each kind of
thread is one group.
"""

from __future__ import annotations

import re
import subprocess

_THREAD = re.compile(r'^"(?P<name>[^"]*)".* cpu=(?P<ms>[\d.]+)ms', re.MULTILINE)
_NUMBER = re.compile(r"[-#]\d+|\d+$")


def group_of(name: str) -> str:
    """``data-plane-kafka-request-handler-3`` -> ``data-plane-kafka-request-handler``,
    ``C2 CompilerThread0`` -> ``C2 CompilerThread``, ``G1 Conc#0`` -> ``G1 Conc``."""
    return _NUMBER.sub("", name) or name


def by_group(pid: int) -> dict[str, float]:
    """CPU seconds of ``pid``'s live threads, summed per group (empty if the JVM cannot be
    asked)."""
    try:
        printed = subprocess.run(
            ["jcmd", str(pid), "Thread.print"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    groups: dict[str, float] = {}
    for thread in _THREAD.finditer(printed):
        group = group_of(thread["name"])
        groups[group] = groups.get(group, 0.0) + float(thread["ms"]) / 1000
    return groups


def spent(before: dict[str, float], after: dict[str, float], top: int = 8) -> dict[str, float]:
    """Each group's CPU seconds between two ``by_group`` readings: the ``top`` largest, the
    rest summed as ``(other)``."""
    ordered = sorted(
        ((name, seconds - before.get(name, 0.0)) for name, seconds in after.items()),
        key=lambda item: -item[1],
    )
    shown = {name: round(seconds, 2) for name, seconds in ordered[:top]}
    rest = sum(seconds for _, seconds in ordered[top:])
    return shown | ({"(other)": round(rest, 2)} if rest else {})
