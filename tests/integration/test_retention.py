"""The retention nursery against real databases, with faults injected around them.

``Faulty`` wraps a real backend and raises (or stalls) in one table's purge; everything
else is the real database.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from otelctx.config import Settings
from otelctx.nurseries.retention import purge_pass, run_retention
from otelctx.retention import NS_PER_DAY
from otelctx.storage.base import Storage, WriteBatch
from otelctx.storage.sqlite import open_sqlite
from otelctx.telemetry import Metrics, create_metrics
from tests import backends
from tests.integration.test_storage_contract import log, one_span_trace, open_backend, point

NOW = time.time_ns()
OLD = NOW - 10 * NS_PER_DAY  # beyond the default 7 days


class Faulty:
    """A real Storage whose purge of one table fails or stalls."""

    def __init__(self, inner: Storage, table: str, *, stall_s: float = 0.0) -> None:
        self._inner = inner
        self.table = table
        self.stall_s = stall_s
        self.broken = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def purge_batch(self, table: str, cutoff_ns: int, limit: int) -> int:
        if table == self.table and self.broken:
            if self.stall_s:
                await trio.sleep(self.stall_s)
            else:
                raise RuntimeError(f"injected failure purging {table}")
        return await self._inner.purge_batch(table, cutoff_ns, limit)


async def seed(storage: Storage) -> None:
    old_spans = [one_span_trace(i, 1, start=OLD) for i in range(30)]
    new_spans = [one_span_trace(100 + i, 1, start=NOW) for i in range(3)]
    logs = [dataclasses.replace(log(), time_unix_nano=t) for t in (OLD, OLD, NOW)]
    points = [dataclasses.replace(point(), time_unix_nano=t) for t in (OLD, NOW)]
    await storage.write(WriteBatch(spans=old_spans + new_spans, logs=logs, points=points))


def value(metrics: Metrics, name: str, **labels: str) -> float:
    got = metrics.registry.get_sample_value(name, labels or None)
    return 0.0 if got is None else got


@pytest.fixture(params=backends.BACKENDS)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    backends.require(request.param)
    async with open_backend(request.param, tmp_path) as s:
        yield s


async def test_a_pass_deletes_old_rows_in_batches_and_keeps_new_ones(storage: Storage) -> None:
    await seed(storage)
    metrics = create_metrics(storage.driver)
    settings = Settings(retention_batch_size=7, retention_batch_sleep_ms=0)
    results = await purge_pass(storage, settings, metrics)
    assert all(r.ok for r in results)
    assert {r.job: r.purged for r in results} == {
        "logs": {"logs": 2}, "traces": {"spans": 30, "traces": 30},
        "metrics": {"metric_points": 1},
        "graph": {"investigations": 0, "graph_snapshots": 0, "drain_templates": 0},
        "dlq": {"dlq_replays": 0},
    }  # fmt: skip
    for table, left in (("spans", 3), ("traces", 3), ("logs", 1), ("metric_points", 1)):
        assert await storage.count_rows(table) == left
    assert value(metrics, "otelcontext_retention_rows_behind", table="spans") == 30
    assert value(metrics, "otelcontext_retention_rows_purged_total", table="spans") == 30
    assert value(metrics, "otelcontext_retention_last_success_timestamp", job="logs") > 0


async def test_a_failing_purge_leaves_the_others_done(storage: Storage) -> None:
    await seed(storage)
    metrics = create_metrics(storage.driver)
    faulty = Faulty(storage, "logs")
    settings = Settings(retention_batch_sleep_ms=0)
    results = {r.job: r for r in await purge_pass(faulty, settings, metrics)}  # type: ignore[arg-type]
    assert not results["logs"].ok and "injected failure" in (results["logs"].error or "")
    assert results["traces"].ok and results["metrics"].ok
    assert await storage.count_rows("spans") == 3
    assert await storage.count_rows("logs") == 3, "the failed job deleted nothing"
    assert value(metrics, "otelcontext_retention_consecutive_failures", job="logs") == 1
    await purge_pass(faulty, settings, metrics)  # type: ignore[arg-type]
    assert value(metrics, "otelcontext_retention_consecutive_failures", job="logs") == 2
    faulty.broken = False
    await purge_pass(faulty, settings, metrics)  # type: ignore[arg-type]
    assert value(metrics, "otelcontext_retention_consecutive_failures", job="logs") == 0
    assert await storage.count_rows("logs") == 1


async def test_the_schedule_keeps_its_rhythm_and_skips_overlaps(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    # Jump only after 0.2 s of real idleness: SQLite works in threads, and a clock that
    # jumped while a thread ran would fire the next tick in the middle of a purge.
    mock_clock.autojump_threshold = 0.2
    hour = 3600.0
    async with open_sqlite(str(tmp_path / "r.db")) as real:
        await seed(real)
        faulty = Faulty(real, "logs", stall_s=1.5 * hour)  # the first pass overruns a tick
        metrics = create_metrics("sqlite")
        settings = Settings(retention_interval=hour, retention_batch_sleep_ms=0)
        async with trio.open_nursery() as nursery:
            await nursery.start(run_retention, faulty, settings, metrics)
            await trio.sleep(0.5 * hour)  # t = 0.5 h: pass 1 is stalled in the logs purge
            assert await real.count_rows("spans") == 33, "serial on SQLite: traces come later"
            await trio.sleep(0.75 * hour)  # t = 1.25 h: the 1 h tick found pass 1 running
            assert value(metrics, "otelcontext_retention_skipped_passes_total") == 1
            await trio.sleep(0.5 * hour)  # t = 1.75 h: pass 1 went on after its 1.5 h stall
            assert await real.count_rows("spans") == 3
            faulty.broken = False
            await trio.sleep(0.5 * hour)  # t = 2.25 h: the 2 h tick ran on time
            assert value(metrics, "otelcontext_retention_skipped_passes_total") == 1
            assert await real.count_rows("logs") == 1
            nursery.cancel_scope.cancel()


async def test_maintenance_keeps_data_and_sqlite_gives_space_back(
    storage: Storage, tmp_path: Path
) -> None:
    await seed(storage)
    await storage.maintain()
    assert await storage.count_rows("spans") == 33
    if storage.driver != "sqlite":
        return
    # SQLite: fill, purge everything, maintain: the file gets smaller again
    path = Path(storage._path)  # type: ignore[attr-defined]
    big = "x" * 4000
    spans = [dataclasses.replace(one_span_trace(1000 + i, 1, start=OLD), attributes={"b": big})
             for i in range(2000)]  # fmt: skip
    await storage.write(WriteBatch(spans=spans))
    await storage.maintain()  # checkpoint: the file now holds the data
    full = await trio.Path(path).stat()
    await purge_pass(storage, Settings(retention_batch_sleep_ms=0), create_metrics("sqlite"))
    await storage.maintain()
    assert (await trio.Path(path).stat()).st_size < full.st_size / 2


async def test_maintenance_runs_on_its_own_interval(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    mock_clock.autojump_threshold = 0.2
    hour = 3600.0
    async with open_sqlite(str(tmp_path / "m.db")) as real:
        metrics = create_metrics("sqlite")
        settings = Settings(retention_interval=hour, maintenance_interval=3 * hour)
        async with trio.open_nursery() as nursery:
            await nursery.start(run_retention, real, settings, metrics)
            await trio.sleep(2.5 * hour)
            assert value(metrics, "otelcontext_retention_last_success_timestamp",
                         job="maintenance") == 0  # fmt: skip
            await trio.sleep(hour)  # the 3 h pass also ran the maintenance
            assert value(metrics, "otelcontext_retention_last_success_timestamp",
                         job="maintenance") > 0  # fmt: skip
            nursery.cancel_scope.cancel()
