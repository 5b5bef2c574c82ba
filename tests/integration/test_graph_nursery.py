"""The graph nursery: the channel, its workers and loops, fed by the real writer and DLQ
replay over a real SQLite database.

Test rules: an absolute ``fail_after`` on every test that waits; the wall clock the graph
uses is injected where time matters (``clock=``).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from otelctx.config import Settings
from otelctx.dlq import DiskQueue
from otelctx.graph.investigations import Investigation
from otelctx.graph.persist import InvestigationFilter, MemoryPersistence
from otelctx.ingest.admission import Admission, Submission
from otelctx.model import SpanRecord
from otelctx.nurseries.dlq import replay_tick
from otelctx.nurseries.graph import GraphService, run_graph
from otelctx.nurseries.writer import WriterState, run_writer
from otelctx.storage.base import WriteBatch
from otelctx.storage.sqlite import open_sqlite
from otelctx.telemetry import Metrics, create_metrics
from tests.integration.test_retention import value
from tests.unit.test_graph_core import log, point, span, three_tier


def service(
    settings: Settings | None = None, clock: Callable[[], int] = time.time_ns
) -> tuple[GraphService, Metrics]:
    metrics = create_metrics("sqlite")
    return GraphService(settings or Settings(), metrics, MemoryPersistence(), clock=clock), metrics


def now_spans(n: int, *, error: bool = False, tenant: str = "t1") -> list[SpanRecord]:
    end = time.time_ns() - 1_000_000
    return [span(i + 1, 1, None, "api", error=error, end=end, tenant=tenant) for i in range(n)]


def test_a_full_channel_drops_and_counts_by_signal_without_blocking() -> None:
    g, metrics = service(Settings(graphrag_event_queue_size=10))
    g.publish(WriteBatch(spans=now_spans(4)))
    batch = WriteBatch(spans=now_spans(25), logs=[log("x")] * 5, points=[point("m", 1.0)] * 3)
    g.publish(batch)  # no workers: nothing drains the channel
    assert value(metrics, "otelcontext_graphrag_events_dropped_total", signal="span") == 19
    assert value(metrics, "otelcontext_graphrag_events_dropped_total", signal="log") == 5
    assert value(metrics, "otelcontext_graphrag_events_dropped_total", signal="metric") == 3
    assert value(metrics, "otelcontext_graphrag_event_queue_depth") == 10
    assert g.dropped == 27
    g.close()
    g.publish(WriteBatch(logs=[log("y")]))  # after close (shutdown): a drop, not a crash
    assert value(metrics, "otelcontext_graphrag_events_dropped_total", signal="log") == 6


def test_an_empty_queue_takes_one_commit_larger_than_the_bound() -> None:
    g, metrics = service(Settings(graphrag_event_queue_size=10))
    g.publish(WriteBatch(spans=now_spans(25)))
    assert g.queue_depth() == 25 and g.dropped == 0
    g.publish(WriteBatch(spans=now_spans(3)))  # the queue is over its bound: dropped
    assert value(metrics, "otelcontext_graphrag_events_dropped_total", signal="span") == 3


async def test_committed_batches_reach_the_graph_with_their_real_status(tmp_path: Path) -> None:
    g, metrics = service()
    send, receive = trio.open_memory_channel[Submission](100)
    admission = Admission(1000, 10**9)
    state = WriterState(on_commit=g.publish)
    with trio.fail_after(20):
        async with (
            open_sqlite(str(tmp_path / "db.sqlite")) as storage,
            trio.open_nursery() as nursery,
        ):
            await nursery.start(run_graph, g)
            await nursery.start(run_writer, storage, receive, admission, metrics, state, 1000)
            end = time.time_ns() - 1_000_000
            spans = [s for t in range(4) for s in three_tier(t, error=t == 0, end=end)]
            sub = Submission(WriteBatch(spans=spans), 100)
            assert admission.try_admit(len(sub.batch), sub.nbytes)
            await send.send(sub)
            await sub.done.wait()
            assert sub.error is None
            # as at shutdown: the writer drains, then the graph applies what is queued
            await send.aclose()
            g.close()
    assert value(metrics, "otelcontext_graphrag_events_processed_total", signal="span") == 16
    graph = g.registry.get("t1")
    assert graph is not None
    payments = graph.services.services["payments"].window.stats(time.time_ns())
    assert (payments.calls, payments.errors) == (4, 1)
    assert set(graph.services.edges) == {("frontend", "orders"), ("orders", "payments")}
    assert value(metrics, "otelcontext_graphrag_events_dropped_total", signal="span") == 0


async def test_replayed_dlq_batches_reach_the_graph(tmp_path: Path) -> None:
    g, metrics = service()
    dlq = DiskQueue(tmp_path / "dlq", max_files=0, max_bytes=0, policy="reject")
    dlq.enqueue(WriteBatch(spans=now_spans(3, error=True)))
    async with open_sqlite(str(tmp_path / "db.sqlite")) as storage:
        assert await replay_tick(storage, dlq, Settings(), metrics, g.publish) == 1
    assert g.queue_depth() == 3
    g.apply(g.receive.receive_nowait(), time.time_ns())
    graph = g.registry.get("t1")
    assert graph is not None
    assert graph.services.services["api"].window.stats(time.time_ns()).errors == 3


async def test_a_bad_event_is_counted_logged_and_the_worker_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    g, metrics = service()
    good = now_spans(2)
    bad = dataclasses.replace(good[0], end_time_unix_nano=None)  # type: ignore[arg-type]
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(run_graph, g)
            with caplog.at_level(logging.ERROR):
                g.publish(WriteBatch(spans=[bad, good[1]]))
                g.close()
    assert value(metrics, "otelcontext_graphrag_bad_events_total", signal="span") == 1
    assert "a span event raised and was skipped" in caplog.text
    assert "TypeError" in caplog.text  # the traceback is there
    graph = g.registry.get("t1")
    assert graph is not None and graph.services.services["api"].window.stats(
        time.time_ns()
    ).calls == 1


async def test_shutdown_applies_everything_queued_then_saves_templates() -> None:
    g, metrics = service(Settings(graphrag_worker_count=2))
    g.publish(WriteBatch(spans=now_spans(500), logs=[log(f"job {i} done") for i in range(50)]))
    persist = g.persist
    assert isinstance(persist, MemoryPersistence)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(run_graph, g)
            g.close()  # before the workers had a chance to run: they must drain first
    assert value(metrics, "otelcontext_graphrag_events_processed_total", signal="span") == 500
    assert value(metrics, "otelcontext_graphrag_events_processed_total", signal="log") == 50
    assert not g.running
    saved = await persist.load_templates()
    assert [r.tokens for r in saved["t1"]] == [("job", "<NUM>", "done")]


async def test_templates_saved_before_are_loaded_with_their_ids() -> None:
    persist = MemoryPersistence()
    first = GraphService(Settings(), create_metrics("sqlite"), persist)
    first.apply([log("cache miss for key 42")], time.time_ns())
    await first.save_all_templates()
    [before] = first.registry.graphs["t1"].signals.clusters.values()
    second = GraphService(Settings(), create_metrics("sqlite"), persist)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(run_graph, second)
            second.close()
    second.apply([log("cache miss for key 7")], time.time_ns())
    [after] = second.registry.graphs["t1"].signals.clusters.values()
    assert after.template_id == before.template_id


async def test_the_rebuild_warms_the_graph_once_and_again_only_after_drops() -> None:
    now = [time.time_ns()]
    g, metrics = service(Settings(graphrag_event_queue_size=1), clock=lambda: now[0])
    persist = g.persist
    assert isinstance(persist, MemoryPersistence)
    committed = now_spans(3, error=True) + now_spans(2, tenant="t2")
    old = dataclasses.replace(committed[0], trace_id="e" * 32,
                              start_time_unix_nano=now[0] - 2 * 3600 * 10**9)  # fmt: skip
    persist.add_spans([*committed, old])
    await g.refresh_pass()
    assert g.warm
    t1 = g.registry.get("t1")
    assert t1 is not None
    stats = t1.services.services["api"].window.stats(now[0])
    assert (stats.calls, stats.errors) == (3, 3), "status read back, beyond the TTL not"
    assert g.registry.get("t2") is not None
    assert value(metrics, "otelcontext_graphrag_rebuild_spans_total") == 5
    # no drops: the next pass does not read the same spans again
    now[0] += 60 * 10**9
    await g.refresh_pass()
    assert value(metrics, "otelcontext_graphrag_rebuild_spans_total") == 5
    # a drop: the pass reads what was committed since, and what came live is not doubled
    late = [span(900 + i, 1, None, "api", end=now[0] - 10**9) for i in range(2)]
    g.publish(WriteBatch(spans=late[:1]))  # fills the channel of one
    g.publish(WriteBatch(spans=late[1:]))  # dropped
    [live] = g.receive.receive_nowait()
    g.apply([live], now[0])
    persist.add_spans(late)
    await g.refresh_pass()
    stats = t1.services.services["api"].window.stats(now[0])
    assert stats.calls == 5
    assert value(metrics, "otelcontext_graphrag_rebuild_spans_total") == 7


async def test_the_anomaly_pass_creates_one_investigation_and_saves_it() -> None:
    now = [time.time_ns()]
    g, metrics = service(clock=lambda: now[0])
    end = now[0] - 10**9
    g.apply([s for t in range(40) for s in three_tier(t, error=t % 2 == 0, end=end)], now[0])
    assert await g.anomaly_pass() == 1
    for _ in range(5):
        now[0] += 10**9
        assert await g.anomaly_pass() == 0
    assert value(metrics, "otelcontext_graphrag_investigations_created_total") == 1
    assert value(metrics, "otelcontext_graphrag_anomalies_active", type="error_spike") == 3
    persist = g.persist
    assert isinstance(persist, MemoryPersistence)
    [inv] = await persist.list_investigations(InvestigationFilter("t1"))
    assert (inv.root_service, inv.root_operation) == ("payments", "charge")
    assert [s.is_error for s in inv.span_chain] == [True, True, True]


class FailingSaves(MemoryPersistence):
    def __init__(self) -> None:
        super().__init__()
        self.failing = True

    async def save_investigation(self, inv: Investigation) -> None:
        if self.failing:
            raise OSError("database unavailable")
        await super().save_investigation(inv)


async def test_an_investigation_whose_save_failed_is_saved_on_a_later_pass(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [time.time_ns()]
    metrics = create_metrics("sqlite")
    persist = FailingSaves()
    g = GraphService(Settings(), metrics, persist, clock=lambda: now[0])
    end = now[0] - 10**9
    g.apply([s for t in range(40) for s in three_tier(t, error=t % 2 == 0, end=end)], now[0])
    with caplog.at_level(logging.ERROR):
        assert await g.anomaly_pass() == 1
    assert "saving 1 investigations failed" in caplog.text
    assert value(metrics, "otelcontext_graphrag_investigations_unsaved") == 1
    assert value(metrics, "otelcontext_internal_errors_total", subsystem="graph") == 1
    persist.failing = False
    now[0] += 10**9
    assert await g.anomaly_pass() == 0  # inside the cooldown: nothing new, the old one saved
    assert len(await persist.list_investigations(InvestigationFilter("t1"))) == 1
    assert value(metrics, "otelcontext_graphrag_investigations_unsaved") == 0
