"""The server collects the young generation about once a second (the GC pacer), seen
through ``python_gc_collections_total`` on ``/metrics/prometheus``."""

from __future__ import annotations

import re
import time

from tests.conftest import ServerProcess


def young_collections(srv: ServerProcess) -> float:
    status, body = srv.get("/metrics/prometheus")
    assert status == 200
    m = re.search(rb'^python_gc_collections_total\{generation="0"\} (\S+)$', body, re.M)
    assert m is not None, "python_gc_collections_total is exported"
    return float(m.group(1))


def test_an_idle_server_still_collects_the_young_generation_every_second(
    server: ServerProcess,
) -> None:
    before = young_collections(server)
    time.sleep(3.5)  # idle: too few allocations for CPython's own young collection
    assert young_collections(server) - before >= 2
