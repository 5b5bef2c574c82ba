"""The writer: group-commits admitted exports and acknowledges them after the commit.

Committer tasks (``storage.write_concurrency`` of them: one on SQLite, a few on a
server database) read the submission channel. Each takes everything already waiting
(up to WRITER_MAX_BATCH_ITEMS items) into one transaction, so many concurrent exports
share one commit; while a commit runs, the next group accumulates.

Linger (WRITER_LINGER): when the previous group held more than one export (clients are
exporting concurrently), a group also waits for more exports until its first one has
waited ``linger_s``. A commit's cost is mostly per commit and per page it touches, so
fewer, larger commits cost much less CPU per item; the price is at most ``linger_s``
more latency for the acks. A lone client (groups of one) is committed at once.

Resource handling: the writer owns the receive end. When every send end is closed it
drains what is left, commits it and returns; that is how shutdown flushes.

Error handling: StorageUnavailable fails the whole group (clients get a retryable
answer; nothing was acknowledged). Any other error is retried one submission at a
time, so one bad export cannot sink the others; an export that fails alone gets a
non-retryable error. The writer task itself never dies of a failed commit. Every
submission's ``done`` is set exactly once, whatever happens, and its admission released.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import trio

from otelctx.dlq import DiskQueue, DLQError, DLQFull
from otelctx.ingest.admission import Admission, Submission
from otelctx.storage.base import Storage, StorageError, StorageUnavailable, WriteBatch
from otelctx.telemetry import Metrics

log = logging.getLogger(__name__)


class WriterState:
    """What /ready and the tests read about the writer, its disk fallback, and who hears
    of committed batches (``on_commit``: the graph; it must not block)."""

    def __init__(
        self,
        dlq: DiskQueue | None = None,
        on_commit: Callable[[WriteBatch], None] | None = None,
    ) -> None:
        self.dlq = dlq
        self.on_commit = on_commit
        self.last_commit_failed = False
        self.commits = 0


async def run_writer(
    storage: Storage,
    receive: trio.MemoryReceiveChannel[Submission],
    admission: Admission,
    metrics: Metrics,
    state: WriterState,
    max_batch_items: int,
    *,
    linger_s: float = 0.0,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    async with receive, trio.open_nursery() as nursery:
        # storage.write_concurrency committers share the channel: while one commits,
        # the next takes what has queued meanwhile (SQLite: exactly one).
        for i in range(storage.write_concurrency):
            nursery.start_soon(
                _committer, storage, receive.clone(), admission, metrics, state,
                max_batch_items, linger_s, name=f"writer-{i}",
            )  # fmt: skip
        task_status.started()


async def _committer(
    storage: Storage,
    receive: trio.MemoryReceiveChannel[Submission],
    admission: Admission,
    metrics: Metrics,
    state: WriterState,
    max_batch_items: int,
    linger_s: float,
) -> None:
    async with receive:
        concurrent = False  # did the previous group hold more than one export?
        while True:
            try:
                first = await receive.receive()
            except trio.EndOfChannel:
                return
            group = [first]
            try:
                items = _take_waiting(receive, group, len(first.batch), max_batch_items)
                if concurrent and linger_s > 0 and items < max_batch_items:
                    with trio.move_on_at(first.queued_at + linger_s):
                        while items < max_batch_items:
                            sub = await receive.receive()
                            group.append(sub)
                            items = _take_waiting(
                                receive, group, items + len(sub.batch), max_batch_items
                            )
            except trio.EndOfChannel:
                pass  # shutting down: commit what was taken, the next receive returns
            finally:
                # also when cancelled while lingering: every export taken is answered
                await _commit_group(storage, group, admission, metrics, state)
            concurrent = len(group) > 1


def _take_waiting(
    receive: trio.MemoryReceiveChannel[Submission],
    group: list[Submission],
    items: int,
    max_items: int,
) -> int:
    """Move the submissions already waiting into ``group`` until it holds ``max_items``
    items; return how many it holds."""
    while items < max_items:
        try:
            sub = receive.receive_nowait()
        except trio.WouldBlock:
            break
        group.append(sub)
        items += len(sub.batch)
    return items


async def _commit_group(
    storage: Storage,
    group: list[Submission],
    admission: Admission,
    metrics: Metrics,
    state: WriterState,
) -> None:
    try:
        with trio.CancelScope(shield=True):
            # A started commit finishes (its worker thread cannot be abandoned anyway);
            # the acks below must match what is in the database.
            await _commit(storage, group, metrics, state)
    finally:
        for sub in group:
            admission.release(len(sub.batch), sub.nbytes)
            sub.done.set()


async def _to_dlq(dlq: DiskQueue, batch: WriteBatch, metrics: Metrics) -> bool:
    """Write ``batch`` to the DLQ (fsynced); False when it cannot take it."""
    try:
        evicted = await trio.to_thread.run_sync(dlq.enqueue, batch)
    except DLQFull as exc:
        log.warning("DLQ full, refusing %d items (clients retry): %s", len(batch), exc)
        return False
    except DLQError as exc:
        metrics.internal_errors.labels("dlq").inc()
        log.error("DLQ write failed, refusing %d items (clients retry): %s", len(batch), exc)
        return False
    metrics.dlq_enqueued.inc()
    # the gauges move with every file, not only at the next replay tick
    files, size = await trio.to_thread.run_sync(dlq.usage)
    metrics.dlq_files.set(files)
    metrics.dlq_bytes.set(size)
    if evicted.files:
        metrics.dlq_evicted.inc(evicted.files)
        metrics.dlq_evicted_bytes.inc(evicted.bytes)
        # one warning per enforcement, not per evicted file
        log.warning("DLQ full: evicted the %d oldest files (%d bytes) to make room",
                    evicted.files, evicted.bytes)  # fmt: skip
    return True


async def _commit(
    storage: Storage, group: list[Submission], metrics: Metrics, state: WriterState
) -> None:
    merged = WriteBatch(
        spans=[s for sub in group for s in sub.batch.spans],
        logs=[r for sub in group for r in sub.batch.logs],
        points=[p for sub in group for p in sub.batch.points],
    )
    t0 = time.perf_counter()
    try:
        result = await storage.write(merged)
    except StorageUnavailable as exc:
        state.last_commit_failed = True
        metrics.writer_failures.labels("unavailable").inc()
        if state.dlq is not None and await _to_dlq(state.dlq, merged, metrics):
            # durable on disk: the clients are acknowledged, replay stores it later
            log.warning("database unavailable (%s): %d items written to the DLQ", exc,
                        len(merged))  # fmt: skip
            return
        log.warning("commit of %d items failed, database unavailable: %s", len(merged), exc)
        for sub in group:
            sub.error = exc
        return
    except Exception as exc:
        # Not only StorageError: whatever a backend raises must not kill the writer
        # (that would stop every ack). The group is retried one export at a time.
        metrics.writer_failures.labels("error").inc()
        if isinstance(exc, StorageError):
            log.error("commit of %d items failed: %s", len(merged), exc)
        else:
            metrics.internal_errors.labels("writer").inc()
            log.exception("commit of %d items failed unexpectedly", len(merged))
        if len(group) == 1:
            group[0].error = exc
            return
        for sub in group:
            await _commit(storage, [sub], metrics, state)
        return
    state.last_commit_failed = False
    state.commits += 1
    metrics.writer_commit_seconds.observe(time.perf_counter() - t0)
    metrics.writer_batch_items.observe(len(merged))
    if result.spans_duplicate:
        metrics.spans_duplicate.inc(result.spans_duplicate)
    notify_commit(state.on_commit, merged, metrics)


def notify_commit(
    on_commit: Callable[[WriteBatch], None] | None, batch: WriteBatch, metrics: Metrics
) -> None:
    """Tell the listener (the graph) of a committed batch. It must not block; if it
    raises, that is counted and logged, never the writer's (or replay's) failure."""
    if on_commit is None:
        return
    try:
        on_commit(batch)
    except Exception:
        metrics.internal_errors.labels("graph").inc()
        log.exception("the commit listener failed on %d items", len(batch))
