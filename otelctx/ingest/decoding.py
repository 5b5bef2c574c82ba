"""Where OTLP bodies are decoded: in worker processes, or on the event loop.

Decoding is the largest CPU cost of ingest and holds the GIL, so with
INGEST_DECODE_WORKERS > 0 request bodies are decoded in that many worker processes
(``trio_parallel``), and the server process only rebuilds the records. Records travel
back as plain tuples (cheap to pickle), in model field order. Bodies under
INLINE_BODY_BYTES are decoded inline: there the round trip costs the event loop as much
as the decode would, and the worker's CPU comes on top.

Resource handling: ``open_decoder`` owns the worker processes; they are started (and
a first decode is run, so the import cost is paid) before it yields, and stopped when it
exits.

Error handling: DecodeError raised in a worker reaches the caller unchanged. A worker
that dies (BrokenWorkerError) does not lose the request: it is decoded inline instead,
and the failure is logged and counted.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import fields
from functools import partial
from operator import attrgetter
from typing import Any

import trio
import trio_parallel

from otelctx.model import LogRecord, MetricPoint, Signal, SpanRecord
from otelctx.otlp import Decoded, Encoding, IngestPolicy, decode_logs, decode_metrics, decode_traces
from otelctx.telemetry import Metrics

log = logging.getLogger(__name__)

AnyDecoded = Decoded[SpanRecord] | Decoded[LogRecord] | Decoded[MetricPoint]
_DECODERS: dict[Signal, Callable[[bytes, Encoding, IngestPolicy], AnyDecoded]] = {
    Signal.TRACES: decode_traces,
    Signal.LOGS: decode_logs,
    Signal.METRICS: decode_metrics,
}
_RECORD_TYPES: dict[Signal, type[Any]] = {
    Signal.TRACES: SpanRecord,
    Signal.LOGS: LogRecord,
    Signal.METRICS: MetricPoint,
}
_AS_TUPLE = {
    signal: attrgetter(*(f.name for f in fields(cls))) for signal, cls in _RECORD_TYPES.items()
}

# Below this many bytes a body is decoded inline. A worker round trip costs the event loop
# ~0.2 ms plus ~1.7 us a span (sending the body, rebuilding the records); decoding in place
# costs ~3.5-4 us a span. So a 50-span export (~10 KiB) costs the loop the same either
# way, and inline saves the worker's whole decode; at 64 KiB (~350 spans) inline holds the
# loop ~1.3 ms. Larger bodies go to a worker so that they do not stall it.
INLINE_BODY_BYTES = 64 * 1024

_Flat = tuple[list[tuple[Any, ...]], int, int, int, str]


def decode_flat(signal: Signal, body: bytes, encoding: Encoding, policy: IngestPolicy) -> _Flat:
    """Run in a worker process: decode and flatten the records into tuples."""
    d = _DECODERS[signal](body, encoding, policy)
    as_tuple = _AS_TUPLE[signal]
    return [as_tuple(r) for r in d.records], d.rejected, d.invalid, d.filtered, d.message


def _warm_up() -> None:
    """Imports the decoders in a fresh worker."""


class Decoder:
    def __init__(self, workers: trio_parallel.WorkerContext | None, count: int,
                 metrics: Metrics) -> None:  # fmt: skip
        self._workers = workers
        self._limiter = trio.CapacityLimiter(max(1, count))
        self._metrics = metrics
        # CPU work in this process (an inline decode, rebuilding a worker's records) runs
        # a few ms without a checkpoint. One at a time, handed over through the scheduler,
        # lets timers and I/O run in between instead of behind a whole wave of requests.
        self._cpu_lock = trio.Lock()

    async def decode(
        self, signal: Signal, body: bytes, encoding: Encoding, policy: IngestPolicy
    ) -> AnyDecoded:
        if self._workers is not None and len(body) >= INLINE_BODY_BYTES:
            try:
                flat = await self._workers.run_sync(
                    decode_flat, signal, body, encoding, policy, limiter=self._limiter
                )
            except trio_parallel.BrokenWorkerError:
                self._metrics.internal_errors.labels("decoder").inc()
                log.exception("a decode worker died; decoding this request in the server")
            else:
                cls = _RECORD_TYPES[signal]
                records, rejected, invalid, filtered, message = flat
                async with self._cpu_lock:
                    rebuilt = [cls(*t) for t in records]
                return Decoded(rebuilt, rejected, invalid, filtered, message)
        async with self._cpu_lock:
            return _DECODERS[signal](body, encoding, policy)


@asynccontextmanager
async def open_decoder(count: int, metrics: Metrics) -> AsyncIterator[Decoder]:
    """A Decoder with ``count`` worker processes (0: decode on the event loop)."""
    if count == 0:
        yield Decoder(None, 0, metrics)
        return
    async with trio_parallel.open_worker_context(idle_timeout=float("inf")) as workers:
        limiter = trio.CapacityLimiter(count)
        async with trio.open_nursery() as nursery:
            for _ in range(count):  # concurrently, so that every worker starts
                nursery.start_soon(partial(workers.run_sync, _warm_up, limiter=limiter))
        yield Decoder(workers, count, metrics)
