"""Samplers: event-loop lag (how late a short sleep wakes up) and the database pool."""

from __future__ import annotations

from dataclasses import asdict

import trio

from otelctx.storage.base import Storage
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


async def run_pool_sampler(
    storage: Storage,
    metrics: Metrics,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Every 5 s: the pool figures into ``otelcontext_db_pool_*``. (Pings, and
    ``otelcontext_db_up``, are the database health task's: nurseries/dbhealth.py.)"""
    task_status.started()
    while True:
        for field, value in asdict(storage.pool_stats()).items():
            metrics.pool[field].set(value)
        await trio.sleep(POOL_INTERVAL_S)
