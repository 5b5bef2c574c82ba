"""Root-cause queries: error chains, impact, ranking, dependency chain, paths, summaries."""

from __future__ import annotations

from otelctx.graph import queries, summary
from otelctx.graph.anomalies import detect
from otelctx.graph.tenant import TenantGraph
from otelctx.graph.window import SLOT_NS
from tests.unit.test_graph_core import MS, NOW, graph, log, span, three_tier


def failing_system(
    n: int = 20, *, at: int = NOW, into: TenantGraph | None = None, first: int = 0
) -> TenantGraph:
    """frontend -> orders -> payments; every other trace fails in payments (and its
    callers report the failure too); spans end a second before ``at`` and are delivered
    child first."""
    g = into or graph()
    for t in range(first, first + n):
        spans = three_tier(t, error=t % 2 == 0, end=at - 1000 * MS)
        if t % 2 == 0:
            spans[2] = span(t, 3, 2, "payments", "charge", error=True, dur_ms=10,
                            message="card declined", end=at - 1000 * MS)  # fmt: skip
        for s in reversed(spans):
            g.add_span(s, at)
    return g


def test_root_cause_is_the_deepest_failing_span_not_the_entry_point() -> None:
    g = failing_system()
    chains = queries.error_chains(g, "frontend", NOW - 10 * SLOT_NS)
    assert len(chains) == 10
    for c in chains:
        assert (c.root_cause.service, c.root_cause.operation) == ("payments", "charge")
        assert c.root_cause.status_message == "card declined"
        assert [s.service for s in c.steps] == ["frontend", "orders", "payments"]
        assert c.trigger.service == "frontend"


def test_error_chain_from_the_middle_walks_up_and_down() -> None:
    g = failing_system()
    [c, *_] = queries.error_chains(g, "orders", NOW - 10 * SLOT_NS, limit=1)
    assert [s.service for s in c.steps] == ["frontend", "orders", "payments"]
    assert c.root_cause.service == "payments"


def test_the_chain_follows_the_deepest_of_several_failing_children() -> None:
    g = graph()
    for s in [
        span(1, 1, None, "gw", error=True),
        span(1, 2, 1, "a", error=True, end=NOW - 2000 * MS),  # fails, no failing child
        span(1, 3, 1, "b", error=True),
        span(1, 4, 3, "c", error=True),  # deeper
        span(1, 5, 4, "d"),  # ok child: not part of the failure
    ]:
        g.add_span(s, NOW)
    [c] = queries.error_chains(g, "gw", 0)
    assert [s.service for s in c.steps] == ["gw", "b", "c"]
    assert c.root_cause.service == "c"


def test_error_chains_see_only_spans_since_and_one_per_trace() -> None:
    g = failing_system()
    assert queries.error_chains(g, "frontend", NOW) == []
    assert len({c.trace_id for c in queries.error_chains(g, "payments", 0, limit=100)}) == 10


def test_a_cycle_of_parent_ids_does_not_hang() -> None:
    g = graph()
    g.add_span(span(1, 1, 2, "a", error=True), NOW)
    g.add_span(span(1, 2, 1, "b", error=True), NOW)
    [c] = queries.error_chains(g, "a", 0)
    assert {s.service for s in c.steps} == {"a", "b"}
    chain = queries.dependency_chain(g, f"{1:032x}")
    assert chain is not None and len(chain) == 2


def test_chain_logs_include_logs_of_the_trace_and_the_root_service() -> None:
    g = failing_system()
    trace0 = f"{0:032x}"
    g.add_log(log("payment gateway refused card 4242", "payments", severity=17, trace=trace0),
              NOW)  # fmt: skip
    g.add_log(log("cache warmed", "payments", severity=9), NOW)
    [c] = [c for c in queries.error_chains(g, "frontend", 0, limit=20) if c.trace_id == trace0]
    assert [lc.template for lc in c.logs] == ["payment gateway refused card <NUM>"]


def test_impact_walks_callers_backwards_to_the_callers_callers() -> None:
    g = failing_system()
    g.add_span(span(99, 1, None, "batch"), NOW)
    g.add_span(span(99, 2, 1, "payments", "refund"), NOW)  # another caller of payments
    found = queries.impact(g, "payments", 5, NOW)
    assert [(i.service, i.depth, i.via) for i in found] == [
        ("batch", 1, "payments"), ("orders", 1, "payments"), ("frontend", 2, "orders"),
    ]  # fmt: skip
    assert found[1].call_count == 20 and found[1].error_rate == 0.5
    assert [i.service for i in queries.impact(g, "payments", 1, NOW)] == ["batch", "orders"]
    assert queries.impact(g, "frontend", 5, NOW) == [], "nobody calls the entry point"


def test_root_cause_ranking_puts_payments_first_with_evidence() -> None:
    g = failing_system()
    detect(g, NOW)
    ranked = queries.rank_root_causes(g, "frontend", 0)
    top = ranked[0]
    assert (top.service, top.operation) == ("payments", "charge")
    assert top.chain_count == 10
    assert top.error_message == "card declined"
    assert any("10 of 10 error chains end in payments charge" in e for e in top.evidence)
    assert any(e.startswith("anomaly: error rate") for e in top.evidence)
    assert top.score == 10 + 2
    # the callers spike too: they rank below, on their anomalies only
    assert [r.service for r in ranked[1:]] == ["frontend", "orders"]
    assert all(r.score == 2 for r in ranked[1:])


def test_dependency_chain_orders_spans_by_start_with_depth() -> None:
    g = failing_system()
    chain = queries.dependency_chain(g, f"{0:032x}")
    assert chain is not None
    assert [(s.service, d) for s, d in chain] == [
        ("frontend", 0), ("orders", 1), ("payments", 2), ("orders", 2),
    ]  # fmt: skip
    assert queries.dependency_chain(g, "f" * 32) is None


def test_shortest_path_is_undirected_and_prefers_busy_links() -> None:
    g = failing_system()
    path = queries.shortest_path(g, "payments", "frontend", NOW)
    assert path is not None and path[0] == ["payments", "orders", "frontend"]
    assert abs(path[1] - 2 / 20) < 1e-9
    g.add_span(span(50, 1, None, "lonely"), NOW)
    assert queries.shortest_path(g, "lonely", "frontend", NOW) is None
    assert queries.shortest_path(g, "ghost", "frontend", NOW) is None


def test_correlated_signals_of_a_service() -> None:
    g = failing_system()
    g.add_log(log("payment gateway refused card 1", "payments", severity=17), NOW)
    detect(g, NOW)
    c = queries.correlated(g, "payments", 0)
    assert [lc.template for lc in c.error_logs] == ["payment gateway refused card <NUM>"]
    assert [a.type.value for a in c.anomalies] == ["error_spike"]
    assert len(c.error_chains) == 5


def test_service_map_and_system_graph() -> None:
    g = failing_system()
    m = summary.service_map(g, NOW)
    names = [n["name"] for n in m["nodes"]]
    assert names == ["frontend", "orders", "payments"]
    payments = m["nodes"][2]
    assert payments["span_count"] == 20 and payments["error_count"] == 10
    assert payments["called_by"] == ["orders"] and payments["calls_to"] == []
    assert [(e["source"], e["target"], e["call_count"]) for e in m["edges"]] == [
        ("frontend", "orders", 20), ("orders", "payments", 20),
    ]  # fmt: skip
    sg = summary.system_graph(g, NOW, 12.0)
    assert sg["system"]["total_services"] == 3
    assert sg["system"]["critical"] == 3  # 50% errors: 1 - 5 * 0.5 < 0
    assert sg["system"]["uptime_seconds"] == 12.0
    node = sg["nodes"][0]
    assert node["metrics"]["request_rate_rps"] == round(20 / 300, 2)
    assert "error rate above 10% — investigate immediately" in node["alerts"]
    assert {e["status"] for e in sg["edges"]} == {"critical"}
    empty = summary.system_graph(None, NOW, 1.0)
    assert empty["nodes"] == [] and empty["edges"] == []
    assert empty["system"]["overall_health_score"] == 1.0


def test_health_follows_the_original_formula() -> None:
    from otelctx.graph.services import edge_health, health_score, status_of

    assert health_score(0.0, 50) == 1.0
    assert health_score(0.02, 300) == 1 - 0.1 - 0.2
    assert health_score(0.5, 0) == 0.0
    assert edge_health(0.01, 1200) == 1 - 0.05 - 0.5
    assert [status_of(h) for h in (0.95, 0.9, 0.8, 0.7, 0.5)] == [
        "healthy", "healthy", "degraded", "degraded", "critical",
    ]  # fmt: skip


def test_snapshot_of_the_topology() -> None:
    g = failing_system()
    snap = summary.snapshot(g, NOW)
    assert snap is not None
    assert snap.service_count == 3 and snap.total_calls == 20 + 40 + 20
    types = {(e["from"], e["to"], e["type"]) for e in snap.edges}
    assert ("orders", "payments", "CALLS") in types
    assert ("payments", "payments|charge", "EXPOSES") in types
    assert summary.snapshot(graph(), NOW) is None
