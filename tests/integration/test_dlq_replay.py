"""The replay task against a real database and a real DLQ directory."""

from __future__ import annotations

import time
from pathlib import Path

import trio

from otelctx.config import Settings
from otelctx.dlq import DiskQueue
from otelctx.nurseries.dlq import replay_tick
from otelctx.storage.base import WriteBatch
from otelctx.storage.sqlite import open_sqlite
from otelctx.telemetry import create_metrics
from tests.integration.test_retention import value
from tests.integration.test_storage_contract import log, one_span_trace


async def test_replay_stores_good_files_and_quarantines_corrupt_ones(tmp_path: Path) -> None:
    dlq = DiskQueue(tmp_path / "dlq", max_files=0, max_bytes=0, policy="reject")
    good = WriteBatch(spans=[one_span_trace(i, 1) for i in range(5)], logs=[log()])
    dlq.enqueue(good)
    dlq.enqueue(WriteBatch(spans=[one_span_trace(50, 1)]))
    corrupt = dlq.entries()[1].path
    corrupt.write_bytes(corrupt.read_bytes()[:-10])  # a torn file
    metrics = create_metrics("sqlite")
    async with open_sqlite(str(tmp_path / "db.sqlite")) as storage:
        stored = await replay_tick(storage, dlq, Settings(), metrics)
        assert stored == 1
        assert await storage.count_rows("spans") == 5
        assert await storage.count_rows("logs") == 1
        # twice: nothing left to replay, nothing stored twice
        assert await replay_tick(storage, dlq, Settings(), metrics) == 0
        assert await storage.count_rows("spans") == 5
    assert dlq.usage() == (0, 0)
    assert [p.name for p in (tmp_path / "dlq" / "quarantine").iterdir() if p.suffix == ".dlq"]
    assert value(metrics, "otelcontext_dlq_quarantined_total", reason="corrupt") == 1
    assert value(metrics, "otelcontext_dlq_replayed_total") == 1
    assert value(metrics, "otelcontext_dlq_files") == 0


async def test_a_failing_replay_backs_off_and_quarantines_after_the_retries(
    tmp_path: Path,
) -> None:
    dlq = DiskQueue(tmp_path / "dlq", max_files=0, max_bytes=0, policy="reject")
    # a span the database refuses (a time past its signed 64 bits): it can never be stored
    import dataclasses

    bad = dataclasses.replace(one_span_trace(1, 1), start_time_unix_nano=2**63 + 5)
    dlq.enqueue(WriteBatch(spans=[bad]))
    metrics = create_metrics("sqlite")
    settings = Settings(dlq_max_retries=2)
    async with open_sqlite(str(tmp_path / "db.sqlite")) as storage:
        assert await replay_tick(storage, dlq, settings, metrics) == 0
        [entry] = dlq.entries()
        assert entry.attempts == 1 and entry.next_attempt_at > time.time()
        assert await replay_tick(storage, dlq, settings, metrics) == 0, "not due yet"
        assert dlq.entries()[0].attempts == 1
        # once due again, the second failure reaches DLQ_MAX_RETRIES: quarantined
        dlq.failed(dlq.entries()[0], time.time(), base_delay=0, max_delay=0, max_retries=0)
        await trio.sleep(0.05)  # the due time is kept in whole milliseconds
        assert dlq.due(time.time(), 10), "due now"
        assert await replay_tick(storage, dlq, settings, metrics) == 0
    assert dlq.usage() == (0, 0)
    assert value(metrics, "otelcontext_dlq_quarantined_total", reason="retries") == 1
    assert value(metrics, "otelcontext_dlq_replay_failures_total") == 2


async def test_an_outage_does_not_use_up_a_files_retries(tmp_path: Path) -> None:
    # An outage: another process holds the write lock (writes fail once busy_timeout
    # passes) and the database file is gone from its path (pings fail). Replay pauses
    # without counting retries and stores the batch once the database is back.
    import sqlite3

    dlq = DiskQueue(tmp_path / "dlq", max_files=0, max_bytes=0, policy="reject")
    dlq.enqueue(WriteBatch(spans=[one_span_trace(7, 1)]))
    metrics = create_metrics("sqlite")
    settings = Settings(dlq_max_retries=1)
    db = tmp_path / "db.sqlite"
    async with open_sqlite(str(db)) as storage:
        other = sqlite3.connect(db, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        db.rename(tmp_path / "away.sqlite")
        for _ in range(2):
            assert await replay_tick(storage, dlq, settings, metrics) == 0
        [entry] = dlq.entries()
        assert entry.attempts == 0, "an outage counts against no file"
        assert value(metrics, "otelcontext_dlq_replay_failures_total") == 2
        other.execute("ROLLBACK")
        other.close()
        (tmp_path / "away.sqlite").rename(db)
        assert await replay_tick(storage, dlq, settings, metrics) == 1
        assert await storage.count_rows("spans") == 1
    assert dlq.usage() == (0, 0)
    assert value(metrics, "otelcontext_dlq_quarantined_total", reason="retries") == 0
