"""DLQ replay: every DLQ_REPLAY_INTERVAL, write due dead-letter batches into the database.

Oldest first, at most DLQ_MAX_REPLAY_PER_TICK per tick. A file that fails is retried
with exponential backoff (state on disk, so it survives restarts) and after
DLQ_MAX_RETRIES moved to ``quarantine/``; a corrupt file is quarantined at once. Nothing
is deleted unless it was stored.

Exactly once: each batch is written with its file's replay key (the envelope's SHA-256),
which the database commits with the rows (``dlq_replays``). A file replayed again —
the process died between the commit and the file's removal, or a commit succeeded but
its answer was lost — finds its key stored: nothing is written a second time (spans,
logs and metric points alike), the file is deleted and counted in
``otelcontext_dlq_replay_duplicates_total``. Keys are kept ``retention.FIXED_KEEP_NS``
(30 days) after their commit, far longer than a stored file waits for its deletion: a
retry is due within ``MAX_DELAY_S`` (1 h) while the process runs.

Error handling: while the database is unavailable (a failed write and a failed ping) the
tick stops at the first failure, without counting it against the file's retries (the rest
would fail the same way, and an outage must not push files into quarantine); a failure
while the database answers pings counts against the file. Any other exception is logged
and counted, and the loop goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial

import trio

from otelctx.config import Settings
from otelctx.dlq import CorruptEnvelope, DiskQueue, EntryGone
from otelctx.nurseries.writer import notify_commit
from otelctx.storage.base import Storage, StorageError, StorageUnavailable, WriteBatch
from otelctx.telemetry import Metrics

log = logging.getLogger(__name__)

BASE_DELAY_S = 5.0
MAX_DELAY_S = 3600.0
PING_TIMEOUT_S = 2.0  # to tell an outage from a batch of its own that fails


async def run_dlq_replay(
    storage: Storage,
    dlq: DiskQueue,
    settings: Settings,
    metrics: Metrics,
    on_commit: Callable[[WriteBatch], None] | None = None,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    task_status.started()
    while True:
        try:
            await replay_tick(storage, dlq, settings, metrics, on_commit)
        except trio.Cancelled:
            raise
        except Exception:
            metrics.internal_errors.labels("dlq").inc()
            log.exception("DLQ replay tick failed")
        await trio.sleep(settings.dlq_replay_interval)


async def replay_tick(
    storage: Storage,
    dlq: DiskQueue,
    settings: Settings,
    metrics: Metrics,
    on_commit: Callable[[WriteBatch], None] | None = None,
) -> int:
    """Replay what is due; return how many batches were stored. ``on_commit`` hears of
    each stored batch (the graph), as the writer's listener does."""
    due = await trio.to_thread.run_sync(dlq.due, time.time(), settings.dlq_max_replay_per_tick)
    stored = 0
    for entry in due:
        try:
            batch, key = await trio.to_thread.run_sync(dlq.read_keyed, entry)
        except EntryGone:
            continue  # evicted meanwhile (evict_oldest), already counted there
        except CorruptEnvelope as exc:
            await trio.to_thread.run_sync(dlq.quarantine, entry, exc.reason)
            metrics.dlq_quarantined.labels("corrupt").inc()
            log.error("DLQ file %s is corrupt, moved to quarantine: %s", entry.path.name, exc)
            continue
        try:
            result = await storage.write(batch, replay_key=key)
        except StorageError as exc:
            metrics.dlq_replay_failures.inc()
            if isinstance(exc, StorageUnavailable) and not await _database_answers(storage):
                # An outage is not this file's fault: its retries are kept for failures
                # of its own, so a long outage never sends files to quarantine.
                log.warning("DLQ replay paused, the database is unavailable: %s", exc)
                break
            quarantined = await trio.to_thread.run_sync(
                partial(
                    dlq.failed, entry, time.time(), base_delay=BASE_DELAY_S,
                    max_delay=MAX_DELAY_S, max_retries=settings.dlq_max_retries,
                    error=str(exc),
                )
            )  # fmt: skip
            if quarantined:
                metrics.dlq_quarantined.labels("retries").inc()
                log.error("DLQ file %s failed %d times, moved to quarantine: %s",
                          entry.path.name, settings.dlq_max_retries, exc)  # fmt: skip
            if isinstance(exc, StorageUnavailable):
                break
            continue
        if result.already_stored:
            # stored by an earlier replay whose end was lost: only the file is left to go
            await trio.to_thread.run_sync(dlq.done, entry)
            metrics.dlq_replay_duplicates.inc()
            log.warning("DLQ file %s was stored before (replay key %s…); deleted, not stored "
                        "again", entry.path.name, key[:12])  # fmt: skip
            continue
        notify_commit(on_commit, batch, metrics)
        await trio.to_thread.run_sync(dlq.done, entry)
        metrics.dlq_replayed.inc()
        stored += 1
    files, size = await trio.to_thread.run_sync(dlq.usage)
    metrics.dlq_files.set(files)
    metrics.dlq_bytes.set(size)
    if stored:
        log.info("DLQ replay stored %d batches; %d files left", stored, files)
    return stored


async def _database_answers(storage: Storage) -> bool:
    """Whether the database answers a ping within ``PING_TIMEOUT_S``."""
    with trio.move_on_after(PING_TIMEOUT_S):
        try:
            await storage.ping()
        except StorageError:
            return False
        return True
    return False
