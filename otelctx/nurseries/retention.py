"""The retention nursery: a purge pass at start and every RETENTION_INTERVAL.

Each pass opens a child nursery and runs the jobs of ``otelctx.retention`` (logs,
traces, metrics, graph): concurrently on a server database, one after the other on SQLite
(single writer). A job deletes in batches of RETENTION_BATCH_SIZE rows, sleeping
RETENTION_BATCH_SLEEP_MS between batches so that ingest commits get through.

Error handling: an exception in a job becomes a failed result: logged, counted in
``otelcontext_retention_consecutive_failures{job}``, and the other jobs and the schedule
carry on. A pass still running when the next one is due makes that one skip (counted),
so passes never overlap and the schedule keeps its rhythm.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import trio

from otelctx.config import Settings
from otelctx.retention import JOBS, JobResult, table_cutoff_ns
from otelctx.storage.base import Storage
from otelctx.telemetry import Metrics

log = logging.getLogger(__name__)


async def run_retention(
    storage: Storage,
    settings: Settings,
    metrics: Metrics,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    running = False
    next_maintenance = trio.current_time() + settings.maintenance_interval

    async def one_pass() -> None:
        nonlocal running, next_maintenance
        try:
            await purge_pass(storage, settings, metrics)
            if trio.current_time() >= next_maintenance:
                next_maintenance += settings.maintenance_interval
                await _guarded(metrics, "maintenance", lambda: _maintain(storage), [])
        finally:
            running = False

    async with trio.open_nursery() as nursery:
        task_status.started()
        next_at = trio.current_time()
        while True:
            if running:
                metrics.retention_skipped_passes.inc()
                log.warning("retention pass skipped: the previous one is still running")
            else:
                running = True
                nursery.start_soon(one_pass, name="retention-pass")
            next_at += settings.retention_interval
            await trio.sleep_until(next_at)


async def purge_pass(storage: Storage, settings: Settings, metrics: Metrics) -> list[JobResult]:
    """One pass: every job, concurrently unless the database has a single writer."""
    now = time.time_ns()
    t0 = time.perf_counter()
    results: list[JobResult] = []

    def job(name: str) -> Callable[[], Awaitable[dict[str, int]]]:
        return lambda: _purge_job(storage, settings, metrics, name, now)

    if storage.write_concurrency > 1:
        async with trio.open_nursery() as nursery:
            for name in JOBS:
                nursery.start_soon(_guarded, metrics, name, job(name), results)
    else:
        for name in JOBS:
            await _guarded(metrics, name, job(name), results)
    metrics.retention_pass_seconds.observe(time.perf_counter() - t0)
    return results


async def _guarded(
    metrics: Metrics,
    job: str,
    work: Callable[[], Awaitable[dict[str, int]]],
    results: list[JobResult],
) -> None:
    """Run one job; its exception becomes a failed result (logged, counted), never the
    end of the scheduler or of the other jobs."""
    try:
        purged = await work()
    except trio.Cancelled:
        raise
    except Exception as exc:
        metrics.retention_consecutive_failures.labels(job).inc()
        metrics.internal_errors.labels("retention").inc()
        log.exception("retention job %s failed", job)
        results.append(JobResult(job, {}, f"{type(exc).__name__}: {exc}"))
        return
    metrics.retention_consecutive_failures.labels(job).set(0)
    metrics.retention_last_success.labels(job).set(time.time())
    if any(purged.values()):
        log.info("retention %s: deleted %s", job, purged)
    results.append(JobResult(job, purged))


async def _purge_job(
    storage: Storage, settings: Settings, metrics: Metrics, job: str, now_ns: int
) -> dict[str, int]:
    days = settings.hot_retention_days
    return {
        table: await _purge_table(storage, settings, metrics, table,
                                  table_cutoff_ns(table, now_ns, days))
        for table in JOBS[job]
    }  # fmt: skip


async def _maintain(storage: Storage) -> dict[str, int]:
    t0 = time.perf_counter()
    await storage.maintain()
    log.info("database maintenance done in %.1f s", time.perf_counter() - t0)
    return {}


async def _purge_table(
    storage: Storage, settings: Settings, metrics: Metrics, table: str, cutoff: int
) -> int:
    metrics.retention_rows_behind.labels(table).set(await storage.count_older(table, cutoff))
    batch, pause = settings.retention_batch_size, settings.retention_batch_sleep_ms / 1000
    total = 0
    while True:
        deleted = await storage.purge_batch(table, cutoff, batch)
        total += deleted
        metrics.retention_rows_purged.labels(table).inc(deleted)
        if deleted < batch:
            return total
        await trio.sleep(pause)
