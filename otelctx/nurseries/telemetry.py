"""Samplers: event-loop lag (how late a short sleep wakes up) and the database pool."""

from __future__ import annotations

import logging
from dataclasses import asdict

import trio

from otelctx.storage.base import Storage, StorageError
from otelctx.telemetry import Metrics

LAG_INTERVAL_S = 0.1


async def run_lag_sampler(
    metrics: Metrics, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    task_status.started()
    while True:
        before = trio.current_time()
        await trio.sleep(LAG_INTERVAL_S)
        metrics.event_loop_lag.observe(max(0.0, trio.current_time() - before - LAG_INTERVAL_S))


POOL_INTERVAL_S = 5.0
log = logging.getLogger(__name__)


async def run_pool_sampler(
    storage: Storage,
    metrics: Metrics,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Every 5 s: the pool figures into ``otelcontext_db_pool_*`` and a ping into
    ``otelcontext_db_up``. A failed ping is a reading (db_up 0), never a crash."""
    up = metrics.db_up.labels(driver=storage.driver)
    was_up = True
    task_status.started()
    while True:
        for field, value in asdict(storage.pool_stats()).items():
            metrics.pool[field].set(value)
        try:
            with trio.fail_after(POOL_INTERVAL_S):
                await storage.ping()
        except (StorageError, trio.TooSlowError) as exc:
            if was_up:  # log the change, not every tick
                log.warning("database ping failed: %s", exc)
            was_up = False
            up.set(0)
        else:
            if not was_up:
                log.info("database ping succeeds again")
            was_up = True
            up.set(1)
        await trio.sleep(POOL_INTERVAL_S)
