"""``python -m loadtest.profile_server OUT serve [flags]``: otelctx under cProfile.

Used by ``loadtest.server`` when ``LOADTEST_SERVER_PROFILE`` is set. The profiler times
the main thread's CPU (``time.thread_time``), not the wall clock: the event loop, where
the server's own Python work runs, measured apart from other processes on a busy
machine and from SQLite's writer thread. The profile is written to OUT when the server
exits; read it with ``python -m pstats OUT``.
"""

from __future__ import annotations

import cProfile
import sys
import time


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python -m loadtest.profile_server OUT serve [flags]")
    out, args = sys.argv[1], sys.argv[2:]
    from otelctx.cli import main as otelctx_main

    profiler = cProfile.Profile(time.thread_time)
    try:
        code = profiler.runcall(otelctx_main, args)
    finally:
        profiler.dump_stats(out)
    sys.exit(code)


if __name__ == "__main__":
    main()
