"""``python -m loadtest.profile_server OUT serve [flags]``: otelctx under cProfile.

Used by ``loadtest.server`` when ``LOADTEST_SERVER_PROFILE`` is set. Profiles time each
thread's own CPU (``time.thread_time``), not the wall clock, so figures taken on a busy
machine still say where the server's CPU went. Two profiles are written when the server
exits (read them with ``python -m pstats``):

- ``OUT``: the main thread, i.e. the event loop (HTTP/2 and HTTP/1.1 handling, decoding
  results, admission, the writer's coordination);
- ``OUT.threads``: the work otelctx hands to worker threads with
  ``trio.to_thread.run_sync`` (SQLite's writer and reader connections), merged. This
  wraps a private hook of Trio's thread cache (``WorkerThread._handle_job``): a local
  diagnostic, not something to ship.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import threading
import time
from typing import Any


def _profile_worker_threads() -> list[cProfile.Profile]:
    from trio._core import _thread_cache

    profiles: list[cProfile.Profile] = []
    local = threading.local()
    original = _thread_cache.WorkerThread._handle_job

    def handle_job(self: Any) -> None:
        profiler = getattr(local, "profiler", None)
        if profiler is None:
            profiler = local.profiler = cProfile.Profile(time.thread_time)
            profiles.append(profiler)
        profiler.enable()
        try:
            original(self)
        finally:
            profiler.disable()

    _thread_cache.WorkerThread._handle_job = handle_job  # type: ignore[method-assign]
    return profiles


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python -m loadtest.profile_server OUT serve [flags]")
    out, args = sys.argv[1], sys.argv[2:]
    from otelctx.cli import main as otelctx_main

    workers = _profile_worker_threads()
    profiler = cProfile.Profile(time.thread_time)
    try:
        code = profiler.runcall(otelctx_main, args)
    finally:
        profiler.dump_stats(out)
        if workers:
            merged = pstats.Stats(workers[0])
            for other in workers[1:]:
                merged.add(other)
            merged.dump_stats(out + ".threads")
    sys.exit(code)


if __name__ == "__main__":
    main()
