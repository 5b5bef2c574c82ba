"""The writer's linger (WRITER_LINGER) over a real SQLite database.

Trio's clock is a MockClock that moves only when a test jumps it, so "the linger has not
passed yet" is exact, while SQLite's work in threads takes what real time it needs. Waits
that must end without the clock moving are bounded in real time (``acked``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
import trio.testing

from otelctx.ingest.admission import Admission, Submission
from otelctx.nurseries.writer import WriterState, run_writer
from otelctx.storage.base import Storage, WriteBatch
from otelctx.storage.sqlite import open_sqlite
from otelctx.telemetry import create_metrics
from tests.unit.test_graph_core import span

pytestmark = pytest.mark.timeout(60)

LINGER = 10.0  # mock seconds (the clock moves only when a test jumps it)


@dataclass
class Writer:
    storage: Storage
    send: trio.MemorySendChannel[Submission]
    admission: Admission
    state: WriterState
    cancel: trio.CancelScope
    next_id: int = 1

    def submit(self, n: int = 1) -> Submission:
        """Queue an export of ``n`` spans without yielding (as the ingest path does), so
        that submissions made one after the other are waiting together."""
        spans = [span(self.next_id + i, 1, None, "api") for i in range(n)]
        self.next_id += n
        sub = Submission(WriteBatch(spans=spans), 100)
        assert self.admission.try_admit(len(sub.batch), sub.nbytes)
        self.send.send_nowait(sub)
        return sub


@asynccontextmanager
async def writer(tmp_path: Path, linger_s: float, max_items: int = 1000) -> AsyncIterator[Writer]:
    send, receive = trio.open_memory_channel[Submission](100)
    async with open_sqlite(str(tmp_path / "w.db")) as storage, trio.open_nursery() as nursery:
        admission = Admission(100_000, 10**9)
        state = WriterState()
        scope = trio.CancelScope()  # the writer's alone, not the test's

        async def run(task_status: trio.TaskStatus[None]) -> None:
            with scope:
                await run_writer(storage, receive, admission, create_metrics("sqlite"), state,
                                 max_items, linger_s=linger_s, task_status=task_status)  # fmt: skip

        await nursery.start(run)
        yield Writer(storage, send, admission, state, scope)
        await send.aclose()


async def settle() -> None:
    """Let the writer take what is queued and start waiting."""
    await trio.testing.wait_all_tasks_blocked(cushion=0.05)


async def acked(*subs: Submission, real_s: float = 20.0) -> None:
    """Wait until every one of ``subs`` is answered without error, for at most ``real_s``
    real seconds (the mock clock does not move meanwhile)."""

    async def guard() -> None:
        await trio.to_thread.run_sync(time.sleep, real_s, abandon_on_cancel=True)
        raise AssertionError(f"not acknowledged within {real_s} s of real time")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(guard)
        for sub in subs:
            await sub.done.wait()
            assert sub.error is None
        nursery.cancel_scope.cancel()


async def concurrent_group(w: Writer) -> None:
    """Two exports committed together: the writer now sees concurrent clients."""
    commits = w.state.commits
    await acked(w.submit(), w.submit())
    assert w.state.commits == commits + 1


async def lingering(w: Writer, n: int) -> Submission:
    """After a concurrent group: an export of ``n`` spans, taken and lingering."""
    await concurrent_group(w)
    sub = w.submit(n)
    await settle()
    assert not sub.done.is_set()
    return sub


async def test_a_lone_client_is_committed_at_once(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    async with writer(tmp_path, LINGER) as w:
        for _ in range(3):  # groups of one: never a linger (the clock never moves)
            await acked(w.submit())
        assert w.state.commits == 3
        after = await lingering(w, 1)  # the previous group was concurrent
        mock_clock.jump(LINGER)
        await acked(after)  # a group of one again, so the next is not delayed
        await acked(w.submit())
        assert w.state.commits == 6
        assert await w.storage.count_rows("spans") == 7


async def test_concurrent_clients_share_one_commit_until_the_linger_passes(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    async with writer(tmp_path, LINGER) as w:
        subs = [await lingering(w, 1)]
        mock_clock.jump(LINGER / 2)
        subs += [w.submit(), w.submit()]
        await settle()
        assert not any(s.done.is_set() for s in subs), "acknowledged before the linger passed"
        assert w.state.commits == 1
        mock_clock.jump(LINGER / 2)  # the first of the group has now waited LINGER
        await acked(*subs)
        assert w.state.commits == 2, "the three exports went in one commit"
        assert await w.storage.count_rows("spans") == 5


async def test_the_linger_counts_from_the_first_export_queued(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    async with writer(tmp_path, LINGER) as w:
        await concurrent_group(w)
        first, second = w.submit(), w.submit()
        await settle()
        mock_clock.jump(LINGER)  # exactly the linger since they were queued
        await acked(first, second)
        assert w.state.commits == 2
        late, later = w.submit(), w.submit()  # a new group: its own linger starts now
        await settle()
        assert not late.done.is_set() and not later.done.is_set()
        mock_clock.jump(LINGER)
        await acked(late, later)
        assert w.state.commits == 3


async def test_a_full_group_is_committed_without_waiting_for_the_linger(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    async with writer(tmp_path, LINGER, max_items=100) as w:
        first = await lingering(w, 60)
        second = w.submit(60)  # 120 items >= 100: no more waiting
        await acked(first, second)  # the clock never moved: only the item bound ended it
        assert w.state.commits == 2
        assert await w.storage.count_rows("spans") == 122


async def test_exports_taken_while_lingering_are_committed_when_the_writer_is_cancelled(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    async with writer(tmp_path, LINGER) as w:
        sub = await lingering(w, 3)
        w.cancel.cancel()  # e.g. a second SIGTERM: the writer stops without draining
        await acked(sub)
        assert await w.storage.count_rows("spans") == 5, "acknowledged, so it is stored"


async def test_shutdown_commits_a_lingering_group_at_once(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    async with writer(tmp_path, LINGER) as w:
        sub = await lingering(w, 2)
        await w.send.aclose()  # what shutdown does: the channel ends, the writer drains
        await acked(sub)
        assert await w.storage.count_rows("spans") == 4


async def test_no_linger_commits_each_group_at_once(
    tmp_path: Path, mock_clock: trio.testing.MockClock
) -> None:
    async with writer(tmp_path, 0.0) as w:
        await concurrent_group(w)
        await acked(w.submit(), w.submit())
        await acked(w.submit())
        assert w.state.commits == 3
