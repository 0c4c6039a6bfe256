"""Runs a module under cProfile timed in CPU seconds (``time.process_time``), not wall time.

``python -m bench.profiled STATS module [args...]``. On a shared machine a wall-clock profile
charges a function for the time its process waited for a core (and a socket ``send`` for the
receiver the kernel ran meanwhile); CPU time does not. Stats are written on a clean exit
(SIGINT), for ``pstats``.
"""

from __future__ import annotations

import cProfile
import runpy
import sys
import time


def main() -> None:
    stats, module, *rest = sys.argv[1:]
    sys.argv = [module, *rest]
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        profiler.disable()
        profiler.dump_stats(stats)


if __name__ == "__main__":
    main()
