"""One simulated service: pace, build, export with retries, count.

``run_service`` waits for its start time, then every ``batch_interval`` takes the
spans its ``Pacer`` allows, builds whole traces (``TraceShaper``), and exports them —
plus ``logs_per_span`` log records per span and, every ``metrics_interval``, its
counters — one request at a time over its own connection, like an SDK's batch
processor. It runs ``duration`` from its own start; the final batch carries the spans
due up to that moment.

Cancellation: ``stop`` (first signal) makes it finish the export in flight (retries
included) and return without building more. Cancelling the task (second signal) cuts
the export off; its spans are counted as ``unfinished``.

Error handling: every export outcome is counted (``stats.Counters``); nothing raises
out of here except cancellation and bugs.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import trio

from loadtest.build import Encoded, RequestBuilder
from loadtest.options import Options
from loadtest.pacing import Pacer
from loadtest.retry import RetryPolicy
from loadtest.shape import OPERATIONS, PlannedSpan, TraceShaper
from loadtest.stats import Stats
from loadtest.transport.base import Acked, Failed, Refused, Signal, Transport

_CLOSE_TIMEOUT_S = 5.0


@dataclass(slots=True)
class RunContext:
    """What every service task shares (one Trio thread: no locking)."""

    options: Options
    stats: Stats
    builder: RequestBuilder
    policy: RetryPolicy
    stop: trio.Event
    run_id: bytes
    service_seconds: float = 0.0
    rng: random.Random = field(default_factory=random.Random)  # backoff jitter only


async def deliver(ctx: RunContext, transport: Transport, signal: Signal, req: Encoded) -> bool:
    """Export ``req`` until acknowledged or given up; True when acknowledged."""
    c = ctx.stats.counters
    opts = ctx.options
    first = trio.current_time()
    attempt = 0
    done = False
    try:
        while True:
            attempt += 1
            if attempt > 1:
                c.retried += 1
            t0 = trio.current_time()
            outcome: Acked | Refused | Failed | None = None
            with trio.move_on_after(opts.export_timeout_s):
                outcome = await transport.export(signal, req.body)
            latency = trio.current_time() - t0
            if outcome is None:
                outcome = Failed(f"no answer within --timeout {opts.export_timeout_s:g}s",
                                 retryable=True)  # fmt: skip
            server_delay: float | None = None
            if isinstance(outcome, Acked):
                _count_ack(ctx, signal, req, outcome, latency)
                done = True
                return True
            if isinstance(outcome, Refused):
                c.refused += 1
                server_delay = outcome.delay_s
            else:
                c.errors += 1
                ctx.stats.record_error(outcome.message)
                if not outcome.retryable:
                    _count_failure(ctx, signal, req)
                    done = True
                    return False
            delay = ctx.policy.next_delay(attempt, trio.current_time() - first, server_delay,
                                          ctx.rng)  # fmt: skip
            if delay is None:
                ctx.stats.record_error(f"gave up after --max-retry-time: {outcome.message}")
                _count_failure(ctx, signal, req)
                done = True
                return False
            await trio.sleep(delay)
    finally:
        if not done and signal is Signal.TRACES:
            c.unfinished += req.items  # cut off by cancellation


def _count_ack(ctx: RunContext, signal: Signal, req: Encoded, ack: Acked, latency: float) -> None:
    c = ctx.stats.counters
    if ack.rejected:
        c.rejected_items += ack.rejected
        ctx.stats.record_error(f"server rejected {signal.value} items: {ack.message}")
    if signal is Signal.TRACES:
        ctx.stats.record_ack(req.by_service, latency, req.by_bucket)
    elif signal is Signal.LOGS:
        c.logs_acked += req.items
    else:
        c.points_acked += req.items


def _count_failure(ctx: RunContext, signal: Signal, req: Encoded) -> None:
    c = ctx.stats.counters
    c.failed_exports += 1
    if signal is Signal.TRACES:
        c.failed += req.items


class _Metrics:
    """A service's cumulative counters for its metrics stream."""

    def __init__(self, start_ns: int) -> None:
        self.start_ns = start_ns
        self.by_op = [0] * len(OPERATIONS)
        self.errors = 0

    def add(self, spans: list[PlannedSpan]) -> None:
        for s in spans:
            self.by_op[s.operation] += 1
            self.errors += s.error


async def run_service(
    ctx: RunContext, index: int, transport: Transport, start_at: float, end_at: float
) -> None:
    """Simulate service ``index`` from ``start_at`` to ``end_at`` (trio clock)."""
    opts = ctx.options
    c = ctx.stats.counters
    with trio.move_on_at(start_at):
        await ctx.stop.wait()
    if ctx.stop.is_set():
        return
    pacer = Pacer(opts.rate, trio.current_time, start=start_at)
    pacer.stop_at(end_at)
    shaper = TraceShaper(index, opts.services, ctx.run_id, opts.seed)
    interval_ns = int(opts.batch_interval_s * 1e9)
    metrics = _Metrics(time.time_ns())
    next_tick = start_at + opts.batch_interval_s
    next_metrics = start_at + opts.metrics_interval_s if opts.metrics_interval_s else None
    now = start_at
    try:
        while True:
            wake = min(next_tick, end_at, next_metrics or end_at)
            with trio.move_on_at(wake):
                await ctx.stop.wait()
            if ctx.stop.is_set():
                break  # stop launching; whatever was due is not built
            now = trio.current_time()
            final = now >= end_at
            if now >= next_tick or final:
                due = pacer.take()
                if due:
                    spans = shaper.batch(due, time.time_ns(), interval_ns)
                    pacer.spend(len(spans) - due)
                    await _export_batch(ctx, transport, spans, metrics)
                while next_tick <= now:
                    next_tick += opts.batch_interval_s
            if next_metrics is not None and (now >= next_metrics or final):
                req = ctx.builder.metrics(index, metrics.start_ns, time.time_ns(),
                                          metrics.by_op, metrics.errors)  # fmt: skip
                c.points_sent += req.items
                await deliver(ctx, transport, Signal.METRICS, req)
                while next_metrics <= now:
                    next_metrics += opts.metrics_interval_s
            if final:
                break
    finally:
        ctx.service_seconds += max(0.0, min(trio.current_time(), end_at) - start_at)


async def _export_batch(
    ctx: RunContext, transport: Transport, spans: list[PlannedSpan], metrics: _Metrics
) -> None:
    c = ctx.stats.counters
    metrics.add(spans)
    req = ctx.builder.traces(spans)
    c.sent += req.items
    await deliver(ctx, transport, Signal.TRACES, req)
    if ctx.options.logs_per_span:
        logs = ctx.builder.logs(spans, ctx.options.logs_per_span)
        c.logs_sent += logs.items
        await deliver(ctx, transport, Signal.LOGS, logs)


async def close_transport(transport: Transport) -> None:
    """Close within a bounded time, even while being cancelled."""
    with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_TIMEOUT_S):
        await transport.aclose()
