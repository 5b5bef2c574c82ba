"""A DLQ batch is stored once, however often it is replayed: real databases, a real DLQ
directory, and the two ways a stored batch's file can outlive its commit.

- The process dies between the commit and the file's removal (``DiskQueue.done`` never
  runs): the restarted process finds the file and replays it again.
- The commit succeeds but its answer is lost (the connection drops after COMMIT): the
  replay counts a failure, keeps the file and tries again later.

Either way the second replay must store nothing (spans, logs and metric points), delete
the file and count it in ``otelcontext_dlq_replay_duplicates_total``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio

from otelctx import dlq as dlq_format
from otelctx.config import Settings
from otelctx.dlq import DiskQueue, Entry
from otelctx.nurseries.dlq import replay_tick
from otelctx.nurseries.retention import purge_pass
from otelctx.retention import NS_PER_DAY
from otelctx.storage.base import Storage, StorageError, StorageUnavailable, WriteBatch, WriteResult
from otelctx.telemetry import create_metrics
from tests import backends
from tests.integration.test_retention import value
from tests.integration.test_storage_contract import log, one_span_trace, open_backend, point


@pytest.fixture(params=backends.BACKENDS)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    backends.require(request.param)
    async with open_backend(request.param, tmp_path) as s:
        yield s


def a_batch(first: int = 0) -> WriteBatch:
    return WriteBatch(
        spans=[one_span_trace(first + i, 1) for i in range(3)],
        logs=[log(), dataclasses.replace(log(), body="second")],
        points=[point()],
    )


async def counts(storage: Storage) -> tuple[int, int, int]:
    return (await storage.count_rows("spans"), await storage.count_rows("logs"),
            await storage.count_rows("metric_points"))  # fmt: skip


# -- the storage contract ----------------------------------------------------------------------


async def test_the_same_replay_key_stores_a_batch_once(storage: Storage) -> None:
    batch = a_batch()
    first = await storage.write(batch, replay_key="k" * 64)
    assert not first.already_stored
    assert (first.spans_inserted, first.logs_inserted, first.points_inserted) == (3, 2, 1)
    again = await storage.write(batch, replay_key="k" * 64)
    assert again == WriteResult(0, 0, 0, 0, already_stored=True)
    assert await counts(storage) == (3, 2, 1)
    detail = await storage.get_trace("t1", f"{0:032x}")
    assert detail is not None and detail.summary.span_count == 1
    # the key is what counts: another key stores the logs and points again (spans stay
    # idempotent), and so does a write without a key
    other = await storage.write(batch, replay_key="other")
    assert not other.already_stored and other.spans_duplicate == 3
    await storage.write(batch)
    assert await counts(storage) == (3, 6, 3)


async def test_a_failed_write_does_not_keep_its_key(storage: Storage) -> None:
    unstorable = dataclasses.replace(one_span_trace(9, 1), start_time_unix_nano=2**64)
    bad = WriteBatch(spans=[unstorable], logs=[log()])
    with pytest.raises(StorageError):
        await storage.write(bad, replay_key="k1")
    assert await counts(storage) == (0, 0, 0)
    # the key went with the rolled-back transaction: a good batch under it is stored
    stored = await storage.write(a_batch(), replay_key="k1")
    assert not stored.already_stored
    assert await counts(storage) == (3, 2, 1)


async def test_concurrent_writes_of_one_key_store_it_once(storage: Storage) -> None:
    batch = a_batch()
    results: list[WriteResult] = []

    async def write() -> None:
        results.append(await storage.write(batch, replay_key="same"))

    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(write)
    assert sorted(r.already_stored for r in results) == [False, True, True, True]
    assert await counts(storage) == (3, 2, 1)


async def test_retention_forgets_keys_after_30_days(storage: Storage) -> None:
    await storage.write(a_batch(), replay_key="recent")
    now = time.time_ns()
    assert await storage.count_older("dlq_replays", now + 1) == 1
    assert await storage.count_older("dlq_replays", now - 30 * NS_PER_DAY) == 0
    metrics = create_metrics(storage.driver)
    results = {r.job: r for r in await purge_pass(storage, Settings(), metrics)}
    assert results["dlq"].ok and results["dlq"].purged == {"dlq_replays": 0}
    assert (await storage.write(a_batch(), replay_key="recent")).already_stored
    # one past the cutoff goes
    assert await storage.purge_batch("dlq_replays", now + 1, 10) == 1
    assert not (await storage.write(WriteBatch(logs=[log()]), replay_key="recent")).already_stored


# -- replay ------------------------------------------------------------------------------------


class Crash(Exception):
    """The process dies here."""


class CrashBeforeRemoval(DiskQueue):
    """A DLQ whose process dies after the batch's commit, before its file is removed."""

    def done(self, entry: Entry) -> None:
        raise Crash(entry.path.name)


async def test_a_file_left_by_a_crash_after_its_commit_is_not_stored_again(
    storage: Storage, tmp_path: Path
) -> None:
    root = tmp_path / "dlq"
    batch = a_batch()
    CrashBeforeRemoval(root, max_files=0, max_bytes=0, policy="reject").enqueue(batch)
    dying = CrashBeforeRemoval(root, max_files=0, max_bytes=0, policy="reject")
    metrics = create_metrics(storage.driver)
    with pytest.raises(Crash):
        await replay_tick(storage, dying, Settings(), metrics)
    assert await counts(storage) == (3, 2, 1), "committed"
    assert len(dying.entries()) == 1, "the file is still there"

    # the restarted process: a new queue on the same directory, new metrics
    restarted = DiskQueue(root, max_files=0, max_bytes=0, policy="reject")
    metrics = create_metrics(storage.driver)
    assert await replay_tick(storage, restarted, Settings(), metrics) == 0
    assert await counts(storage) == (3, 2, 1), "logs and points not stored twice"
    assert restarted.usage() == (0, 0), "the file is gone"
    assert value(metrics, "otelcontext_dlq_replay_duplicates_total") == 1
    assert value(metrics, "otelcontext_dlq_replayed_total") == 0
    assert value(metrics, "otelcontext_dlq_files") == 0


class LostCommitAnswer:
    """A real Storage whose first write commits and then reports the connection lost."""

    def __init__(self, inner: Storage) -> None:
        self._inner = inner
        self.lost = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def write(self, batch: WriteBatch, *, replay_key: str | None = None) -> WriteResult:
        result = await self._inner.write(batch, replay_key=replay_key)
        if not self.lost:
            self.lost += 1
            raise StorageUnavailable("connection lost after COMMIT")
        return result


async def test_a_commit_whose_answer_was_lost_is_not_stored_again(
    storage: Storage, tmp_path: Path
) -> None:
    queue = DiskQueue(tmp_path / "dlq", max_files=0, max_bytes=0, policy="reject")
    queue.enqueue(a_batch())
    queue.enqueue(a_batch(100))
    flaky = LostCommitAnswer(storage)
    metrics = create_metrics(storage.driver)
    published: list[WriteBatch] = []
    tick = replay_tick(flaky, queue, Settings(), metrics, published.append)  # type: ignore[arg-type]
    assert await tick == 0, "unavailable: the tick stops at the first failure"
    [first, _] = queue.entries()
    assert first.attempts == 1
    due_now(first)
    assert await replay_tick(flaky, queue, Settings(), metrics, published.append) == 1  # type: ignore[arg-type]
    assert await counts(storage) == (6, 4, 2), "each batch once"
    assert queue.usage() == (0, 0)
    assert value(metrics, "otelcontext_dlq_replay_failures_total") == 1
    assert value(metrics, "otelcontext_dlq_replay_duplicates_total") == 1
    assert value(metrics, "otelcontext_dlq_replayed_total") == 1
    assert value(metrics, "otelcontext_dlq_files") == 0
    assert [len(b.spans) for b in published] == [3], "the graph hears of the stored one"


def due_now(entry: Entry) -> None:
    """Make the entry's retry due now (as time passing would): its due time is in its name."""
    stem = entry.path.name.split(".")[0]
    entry.path.rename(entry.path.with_name(f"{stem}.a{entry.attempts}.t0.dlq"))


def test_the_replay_key_is_the_envelopes_checksum_and_survives_retries(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path / "dlq", max_files=0, max_bytes=0, policy="reject")
    queue.enqueue(a_batch())
    [entry] = queue.entries()
    data = entry.path.read_bytes()
    _, key = queue.read_keyed(entry)
    header = dlq_format.HEADER_SIZE - 32
    assert key == hashlib.sha256(data[:header] + data[dlq_format.HEADER_SIZE :]).hexdigest()
    assert len(key) == 64
    queue.failed(entry, time.time(), base_delay=1, max_delay=1, max_retries=0)
    [renamed] = queue.entries()
    assert renamed.path != entry.path and renamed.attempts == 1
    assert queue.read_keyed(renamed)[1] == key
    # another batch, another key; the same batch encoded again, the same key
    queue.enqueue(a_batch(50))
    keys = {queue.read_keyed(e)[1] for e in queue.entries()}
    assert len(keys) == 2
    assert dlq_format.replay_key(dlq_format.encode(a_batch())) == key
