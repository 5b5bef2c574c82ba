"""Samplers: event-loop lag (how late a short sleep wakes up)."""

from __future__ import annotations

import trio

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
