"""The pure graph core: windows, stores, CALLS edges in any arrival order, bounds, memory.

Also the span/log/metric builders the other graph unit tests import.
"""

from __future__ import annotations

import random
import tracemalloc
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from otelctx.graph.limits import GraphLimits
from otelctx.graph.tenant import GraphRegistry, TenantGraph
from otelctx.graph.window import SLOT_NS, SLOTS, Window, bucket_of, bucket_value
from otelctx.model import (
    LogRecord,
    MetricPoint,
    MetricType,
    Scope,
    SpanKind,
    SpanRecord,
    StatusCode,
)

NOW = 1_800_000_000 * 1_000_000_000  # a minute boundary (1_800_000_000 s = 30_000_000 min)
MS = 1_000_000


def span(
    trace: int | str,
    span_id: int | str,
    parent: int | str | None,
    service: str,
    op: str = "op",
    *,
    error: bool = False,
    end: int = NOW - 1000 * MS,
    dur_ms: float = 10,
    tenant: str = "t1",
    message: str = "",
) -> SpanRecord:
    def hex_id(v: int | str, n: int) -> str:
        return v if isinstance(v, str) else f"{v:0{n}x}"

    duration = int(dur_ms * MS)
    return SpanRecord(
        tenant_id=tenant, trace_id=hex_id(trace, 32), span_id=hex_id(span_id, 16),
        parent_span_id="" if parent is None else hex_id(parent, 16), service_name=service,
        name=op, kind=SpanKind.SERVER, start_time_unix_nano=end - duration,
        end_time_unix_nano=end, status_code=StatusCode.ERROR if error else StatusCode.UNSET,
        status_message=message, trace_state="", attributes={}, resource={}, scope=Scope(),
        events=(), links=(),
    )  # fmt: skip


def log(
    body: Any, service: str = "svc", *, severity: int = 9, trace: str = "", tenant: str = "t1"
) -> LogRecord:
    return LogRecord(tenant, service, NOW, NOW, severity, "", body, {}, {}, Scope(), trace, "", 0)


def point(
    name: str,
    value: float,
    service: str = "svc",
    *,
    kind: MetricType = MetricType.GAUGE,
    monotonic: bool = False,
    temporality: int = 0,
    attrs: dict[str, Any] | None = None,
    tenant: str = "t1",
) -> MetricPoint:
    return MetricPoint(
        tenant, service, name, "", "", kind, NOW, NOW, attrs or {}, {}, Scope(), value,
        None, None, None, None, {}, temporality, monotonic,
    )  # fmt: skip


def graph(limits: GraphLimits | None = None) -> TenantGraph:
    return TenantGraph("t1", limits or GraphLimits(), NOW)


def edges(g: TenantGraph) -> dict[tuple[str, str], tuple[int, int, int]]:
    out = {}
    for key, e in g.services.edges.items():
        s = e.window.stats(NOW, SLOTS)
        out[key] = (s.calls, s.errors, s.total_ns)
    return out


def shape(g: TenantGraph) -> dict[str, Any]:
    """Everything a user could see of the graph's topology and statistics."""
    return {
        "edges": edges(g),
        "services": {n: s.window.stats(NOW, SLOTS) for n, s in g.services.services.items()},
        "operations": {k: o.window.stats(NOW, SLOTS) for k, o in g.services.operations.items()},
        "spans": g.traces.span_count,
        "pending": g.pending_count,
    }


# -- window ------------------------------------------------------------------------------


def test_window_counts_only_the_recent_minutes() -> None:
    w = Window()
    w.add(NOW - 30 * 1_000_000_000, 5 * MS, False, NOW)  # this minute... well, 30 s ago
    w.add(NOW - 3 * SLOT_NS, 5 * MS, True, NOW)
    w.add(NOW - 10 * SLOT_NS, 5 * MS, True, NOW)
    assert not w.add(NOW - SLOTS * SLOT_NS, 5 * MS, True, NOW), "older than the ring"
    assert w.stats(NOW, 5).calls == 2
    assert w.stats(NOW, 5).errors == 1
    assert w.stats(NOW, SLOTS).calls == 3
    # later, the old minutes fall out of the window without any write
    assert w.stats(NOW + 20 * SLOT_NS, SLOTS).calls == 0


def test_window_clamps_future_samples_to_now() -> None:
    w = Window()
    assert w.add(NOW + 3600 * 1_000_000_000, MS, False, NOW)
    assert w.stats(NOW).calls == 1


def test_window_percentiles_are_within_five_percent() -> None:
    w = Window()
    rng = random.Random(7)
    durations = sorted(rng.randint(1 * MS, 2000 * MS) for _ in range(2000))
    for d in durations:
        w.add(NOW - 1, d, False, NOW)
    s = w.stats(NOW)
    for q, got in ((0.5, s.p50_ns), (0.95, s.p95_ns), (0.99, s.p99_ns)):
        true = durations[int(q * len(durations)) - 1]
        assert abs(got - true) / true < 0.05, (q, got, true)
    assert s.avg_ns == sum(durations) / len(durations)


@given(st.integers(min_value=1, max_value=10**13))
def test_bucket_value_is_close_to_its_durations(ns: int) -> None:
    value = bucket_value(bucket_of(ns))
    assert abs(value - max(ns, 1000)) / max(ns, 1000) < 0.05


def test_a_reused_slot_forgets_the_old_minute() -> None:
    w = Window()
    w.add(NOW - 1, MS, True, NOW)
    later = NOW + SLOTS * SLOT_NS
    w.add(later - 1, MS, False, later)
    assert w.stats(later, SLOTS).calls == 1
    assert w.stats(later, SLOTS).errors == 0


# -- spans, edges ----------------------------------------------------------------------------


def three_tier(trace: int, *, error: bool = False, end: int = NOW - 1000 * MS) -> list[
    SpanRecord
]:
    return [
        span(trace, 1, None, "frontend", "GET /checkout", error=error, dur_ms=30, end=end),
        span(trace, 2, 1, "orders", "POST /orders", error=error, dur_ms=20, end=end),
        span(trace, 3, 2, "payments", "charge", error=error, dur_ms=10, end=end),
        span(trace, 4, 2, "orders", "db.insert", dur_ms=2, end=end),
    ]


def test_calls_edges_between_services_not_within_one() -> None:
    g = graph()
    for s in three_tier(1):
        g.add_span(s, NOW)
    assert set(edges(g)) == {("frontend", "orders"), ("orders", "payments")}
    assert g.services.callers_of("payments") == ["orders"]
    assert g.services.callees_of("frontend") == ["orders"]


def test_child_before_parent_still_makes_the_edge() -> None:
    parent_first, child_first = graph(), graph()
    spans = three_tier(1, error=True)
    for s in spans:
        parent_first.add_span(s, NOW)
    for s in reversed(spans):
        child_first.add_span(s, NOW)
    assert edges(child_first) == edges(parent_first)
    assert edges(child_first)[("orders", "payments")] == (1, 1, 10 * MS)
    assert child_first.pending_count == 0


def test_the_real_status_is_counted() -> None:
    g = graph()
    g.add_span(span(1, 1, None, "a", error=True), NOW)
    g.add_span(span(2, 1, None, "a"), NOW)
    stats = g.services.services["a"].window.stats(NOW)
    assert (stats.calls, stats.errors) == (2, 1)
    trace = g.traces.trace(f"{1:032x}")
    assert trace is not None and trace.status == StatusCode.ERROR


def test_a_span_seen_twice_is_counted_once() -> None:
    g = graph()
    for _ in range(3):
        for s in three_tier(1):
            g.add_span(s, NOW)
    assert edges(g)[("frontend", "orders")][0] == 1
    assert g.services.services["orders"].window.stats(NOW).calls == 2
    assert g.traces.span_count == 4


def test_spans_without_a_service_are_ignored() -> None:
    g = graph()
    assert not g.add_span(span(1, 1, None, ""), NOW)
    assert not g.services.services


@st.composite
def trace_forest(draw: st.DrawFn) -> list[SpanRecord]:
    services = ["a", "b", "c", "d"]
    spans: list[SpanRecord] = []
    for trace in range(draw(st.integers(1, 6))):
        n = draw(st.integers(1, 8))
        for i in range(n):
            parent = draw(st.integers(0, i - 1)) + 1 if i else None
            spans.append(span(
                trace, i + 1, parent, draw(st.sampled_from(services)),
                draw(st.sampled_from(["x", "y"])), error=draw(st.booleans()),
                dur_ms=draw(st.integers(1, 500)),
                end=NOW - draw(st.integers(0, 14 * 60_000)) * MS,
            ))  # fmt: skip
    return spans


@settings(max_examples=200, deadline=None)
@given(trace_forest(), st.randoms(use_true_random=False))
def test_any_arrival_order_gives_the_same_graph(
    spans: list[SpanRecord], rnd: random.Random
) -> None:
    parent_first = graph()
    for s in spans:  # built parents first
        parent_first.add_span(s, NOW)
    shuffled = list(spans)
    rnd.shuffle(shuffled)
    any_order = graph()
    for s in shuffled:
        any_order.add_span(s, NOW)
    assert shape(any_order) == shape(parent_first)


def test_children_of_a_parent_that_never_comes_are_forgotten() -> None:
    g = graph(GraphLimits(pending_ttl_ns=60 * 1_000_000_000))
    g.add_span(span(1, 2, 1, "orders"), NOW)
    assert g.pending_count == 1
    g.prune(NOW + 61 * 1_000_000_000)
    assert g.pending_count == 0
    g.add_span(span(1, 1, None, "frontend"), NOW + 62 * 1_000_000_000)
    assert not g.services.edges


def test_remembered_children_are_bounded_and_counted() -> None:
    g = graph(GraphLimits(max_pending=10))
    for i in range(25):
        g.add_span(span(i, 2, 1, "orders"), NOW)
    assert g.pending_count == 10
    assert g.hits["pending"] == 15


# -- bounds --------------------------------------------------------------------------------


def test_services_beyond_the_bound_evict_the_least_recent_with_their_edges() -> None:
    g = graph(GraphLimits(max_services=3))
    for s in three_tier(1):
        g.add_span(s, NOW)
    g.add_span(span(2, 1, None, "frontend"), NOW)  # frontend is recent again
    g.add_span(span(3, 1, None, "search"), NOW)  # evicts payments, the least recent
    assert set(g.services.services) == {"orders", "frontend", "search"}
    assert set(g.services.edges) == {("frontend", "orders")}
    assert not g.services.callees_of("orders")
    assert g.hits["services"] == 1
    assert all(svc != "payments" for svc, _ in g.services.operations)


def test_operations_beyond_the_bound_evict_the_least_recent() -> None:
    g = graph(GraphLimits(max_operations=3))
    for i in range(5):
        g.add_span(span(i, 1, None, "api", f"GET /item/{i}"), NOW)
    assert [op for _, op in g.services.operations] == ["GET /item/2", "GET /item/3", "GET /item/4"]
    assert g.services.services["api"].operations == {"GET /item/2", "GET /item/3", "GET /item/4"}
    assert g.hits["operations"] == 2


def test_spans_beyond_the_bound_evict_whole_old_traces() -> None:
    g = graph(GraphLimits(max_spans=10))
    for t in range(6):
        for s in three_tier(t):
            g.add_span(s, NOW)
    assert g.traces.span_count <= 10
    assert f"{5:032x}" in g.traces.traces
    assert f"{0:032x}" not in g.traces.traces
    assert g.hits["spans"] >= 3


def test_traces_are_pruned_after_the_ttl() -> None:
    g = graph(GraphLimits(trace_ttl_ns=3600 * 1_000_000_000))
    for s in three_tier(1):
        g.add_span(s, NOW)
    g.prune(NOW + 3599 * 1_000_000_000)
    assert g.traces.span_count == 4
    g.prune(NOW + 3601 * 1_000_000_000)
    assert g.traces.span_count == 0 and not g.traces.traces and not g.traces.arrived
    assert not g.traces.errors_by_service


def test_idle_tenants_are_evicted_and_the_tenant_count_is_bounded() -> None:
    reg = GraphRegistry(GraphLimits(max_tenants=2, tenant_idle_ns=100))
    reg.add_span(span(1, 1, None, "a", tenant="x"), NOW)
    reg.add_span(span(1, 1, None, "a", tenant="y"), NOW + 50)
    reg.add_span(span(1, 1, None, "a", tenant="z"), NOW + 60)  # evicts x
    assert set(reg.graphs) == {"y", "z"}
    assert reg.take_hits()["tenants"] == 1
    gone = reg.prune(NOW + 155)  # y idle for 105
    assert [g.tenant_id for g in gone] == ["y"]
    assert set(reg.graphs) == {"z"}


def test_tenants_never_share_a_graph() -> None:
    reg = GraphRegistry(GraphLimits())
    for s in three_tier(1):
        reg.add_span(s, NOW)
    reg.add_span(span(1, 9, 1, "intruder", tenant="other"), NOW)
    a, b = reg.get("t1"), reg.get("other")
    assert a is not None and b is not None
    assert "intruder" not in a.services.services
    assert set(b.services.services) == {"intruder"} and not b.services.edges


def test_hits_are_summed_over_tenants_and_reset() -> None:
    reg = GraphRegistry(GraphLimits(max_services=1))
    for tenant in ("x", "y"):
        reg.add_span(span(1, 1, None, "a", tenant=tenant), NOW)
        reg.add_span(span(2, 1, None, "b", tenant=tenant), NOW)
    assert reg.take_hits()["services"] == 2
    assert reg.take_hits()["services"] == 0


def letters(i: int) -> str:
    """A word without digits, distinct for each i (digits would be masked alike)."""
    out = ""
    while True:
        i, r = divmod(i, 26)
        out += chr(ord("a") + r)
        if not i:
            return out


def test_memory_stays_bounded_under_many_distinct_services_and_templates() -> None:
    limits = GraphLimits(max_services=50, max_operations=200, max_spans=2000,
                         max_log_clusters=100, max_metrics=100, max_pending=500)  # fmt: skip
    g = graph(limits)

    def churn(start: int, n: int) -> None:
        for i in range(start, start + n):
            g.add_span(span(i, 2, 1, f"svc-{i}", f"op-{i}"), NOW)  # parent never comes
            g.add_log(log(f"{letters(i)} {letters(7 * i)} {letters(13 * i)} stopped", f"svc-{i}"),
                      NOW)  # fmt: skip
            g.add_metric(point(f"metric.{i}", float(i), f"svc-{i}"), NOW)

    tracemalloc.start()
    try:
        churn(0, 2000)
        base, _ = tracemalloc.get_traced_memory()
        churn(2000, 8000)
        grown, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(g.services.services) == 50
    assert len(g.services.operations) <= 200
    assert g.traces.span_count <= 2000
    assert len(g.signals.clusters) <= 100 and len(g.signals.drain) <= 100
    assert len(g.signals.metrics) <= 100
    assert g.signals.drain.node_count() < 100 * 8
    # 4x more distinct names went through after the baseline: growth stays small
    assert grown - base < 2 * 1024 * 1024, grown - base
    assert g.pending_count == 500
    hits = g.hits
    assert hits["services"] and hits["log_clusters"] and hits["metrics"] and hits["spans"]
    assert hits["pending"] and hits["drain_templates"]
