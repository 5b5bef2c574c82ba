"""Anomaly detection against learned baselines, investigations and their cooldown,
log clusters and metric nodes."""

from __future__ import annotations

from otelctx.graph.anomalies import (
    CLEAR_AFTER_NS,
    HISTORY_NS,
    MIN_CALLS,
    AnomalyType,
    Severity,
    detect,
)
from otelctx.graph.investigate import investigate
from otelctx.graph.investigations import Cooldown, canonical_key
from otelctx.graph.limits import GraphLimits
from otelctx.graph.tenant import TenantGraph
from otelctx.model import MetricType
from tests.unit.test_graph_core import NOW, graph, log, point, span
from tests.unit.test_graph_queries import failing_system

S = 1_000_000_000
TICK = 10 * S


def traffic(g: TenantGraph, at: int, n: int, errors: int, service: str = "api",
            dur_ms: float = 10) -> None:  # fmt: skip
    for i in range(n):
        trace = (at // S) * 100_000 + i
        g.add_span(span(trace, 1, None, service, error=i < errors, end=at - 1, dur_ms=dur_ms),
                   at)  # fmt: skip


def run(g: TenantGraph, start: int, ticks: int, per_tick: int, errors: int,
        dur_ms: float = 10) -> list[list[AnomalyType]]:  # fmt: skip
    seen = []
    for k in range(ticks):
        now = start + k * TICK
        traffic(g, now, per_tick, errors, dur_ms=dur_ms)
        seen.append([a.type for a in detect(g, now)])
    return seen


# -- error spikes --------------------------------------------------------------------------


def test_a_steady_error_rate_is_learned_and_a_spike_fires() -> None:
    g = graph()
    # 3% errors for 10 minutes: above the original's fixed 2% x 2, but normal here
    quiet = run(g, NOW, 60, 100, 3)
    assert not any(quiet), "a steady rate is the baseline, not an anomaly"
    assert 0.025 < g.anomalies.baselines["api"].error_rate < 0.035
    # then 40% errors
    spike = run(g, NOW + 60 * TICK, 3, 100, 40)
    assert AnomalyType.ERROR_SPIKE in spike[-1]
    [a] = list(g.anomalies.active.values())
    assert a.service == "api" and a.severity is Severity.WARNING  # 16.9% of 2 minutes
    assert "error rate" in a.evidence and "baseline" in a.evidence


def test_a_breach_is_one_anomaly_while_it_lasts() -> None:
    g = graph()
    run(g, NOW, 30, 100, 50)
    assert len(g.anomalies.active) == 1
    [a] = g.anomalies.active.values()
    first_id = a.id
    assert a.started_ns == NOW and a.last_seen_ns == NOW + 29 * TICK
    assert len(g.anomalies.all()) == 1
    # recovery: no breach for CLEAR_AFTER_NS ends it; it stays in the timeline
    later = NOW + 30 * TICK + 10 * 60 * S  # the bad minutes have left the 5-min window
    run(g, later, 5, 100, 0)
    assert not g.anomalies.active
    [ended] = g.anomalies.timeline(NOW)
    assert ended.id == first_id and ended.ended_ns is not None and not ended.active
    # pruned after 24 h
    g.anomalies.prune(later + HISTORY_NS + CLEAR_AFTER_NS + 60 * TICK, {"api"})
    assert g.anomalies.timeline(0) == []


def test_too_few_calls_never_fire() -> None:
    g = graph()
    seen = run(g, NOW, 5, 1, 1)  # 100% errors but 1 call per tick, under MIN_CALLS at first
    assert seen[0] == [] and MIN_CALLS > 1


def test_severity_only_escalates_during_an_anomaly() -> None:
    g = graph()
    run(g, NOW, 2, 100, 8)  # 8% on a 2% start: info
    [a] = g.anomalies.active.values()
    assert a.severity is Severity.INFO
    run(g, NOW + 2 * TICK, 2, 100, 90)
    assert a.severity is Severity.CRITICAL
    assert a.peak > 0.3


# -- latency -------------------------------------------------------------------------------


def test_latency_spike_against_the_learned_p95() -> None:
    g = graph()
    assert not any(run(g, NOW, 20, 50, 0, dur_ms=20))
    seen = run(g, NOW + 20 * TICK, 40, 50, 0, dur_ms=400)
    assert any(AnomalyType.LATENCY_SPIKE in s for s in seen)
    lat = g.anomalies.active.get(("api", AnomalyType.LATENCY_SPIKE)) or next(
        a for a in g.anomalies.all() if a.type is AnomalyType.LATENCY_SPIKE
    )
    assert "p95 latency" in lat.evidence
    assert lat.severity >= Severity.WARNING


# -- metric z-score ------------------------------------------------------------------------


def test_metric_zscore_can_actually_fire() -> None:
    g = graph()
    for i in range(50):
        g.add_metric(point("queue.depth", 100.0 + (i % 5)), NOW)
    assert detect(g, NOW) == []
    g.add_metric(point("queue.depth", 400.0), NOW)
    [a] = detect(g, NOW)
    assert a.type is AnomalyType.METRIC_ZSCORE and a.service == "svc"
    assert a.value > 3 and "queue.depth" in a.evidence
    node = g.signals.metrics[("svc", "queue.depth")]
    assert node.samples == 51 and node.max == 400.0 and node.min == 100.0


def test_cumulative_counters_are_judged_by_their_increase() -> None:
    g = graph()
    total = 0.0
    for _ in range(40):
        total += 10
        g.add_metric(point("requests", total, kind=MetricType.SUM, monotonic=True,
                           temporality=2), NOW)  # fmt: skip
    node = g.signals.metrics[("svc", "requests")]
    assert node.samples == 39 and node.mean == 10.0
    assert detect(g, NOW) == [], "a steadily growing total is not an anomaly"
    g.add_metric(point("requests", 5.0, kind=MetricType.SUM, monotonic=True, temporality=2),
                 NOW)  # a reset: no increase observed  # fmt: skip
    assert node.samples == 39


# -- investigations ----------------------------------------------------------------------------


def test_one_investigation_per_root_cause_with_its_chain() -> None:
    g = failing_system()
    g.add_log(log("payment gateway refused card 4242", "payments", severity=17,
                  trace=f"{0:032x}"), NOW)  # fmt: skip
    seen = detect(g, NOW)
    assert {a.service for a in seen} == {"frontend", "orders", "payments"}
    [inv] = investigate(g, seen, NOW)
    assert inv.trigger_service == "payments"
    assert (inv.root_service, inv.root_operation) == ("payments", "charge")
    assert inv.error_message == "card declined"
    assert inv.severity is Severity.CRITICAL and inv.status == "detected"
    assert [s.service for s in inv.causal_chain] == ["frontend", "orders", "payments"]
    assert inv.affected_services == ("payments", "orders", "frontend")
    assert len(inv.trace_ids) == 5
    assert [lr.template for lr in inv.error_logs] == ["payment gateway refused card <NUM>"]
    assert len(inv.anomaly_ids) == 3
    # the next ticks, inside the cooldown: nothing new
    for k in range(1, 30):
        at = NOW + k * TICK
        failing_system(at=at, into=g, first=1000 * k)
        assert investigate(g, detect(g, at), at) == []
    # after the cooldown (5 min): a new one
    later = NOW + 301 * S
    failing_system(at=later, into=g, first=10**6)
    assert len(investigate(g, detect(g, later), later)) == 1


def test_no_chain_no_investigation() -> None:
    g = graph()
    run(g, NOW, 1, 100, 50)
    seen = detect(g, NOW)
    g.traces.prune(NOW + 1)  # spans gone: no chain to show
    assert investigate(g, seen, NOW) == []


def test_cooldown_key_is_canonical() -> None:
    c = Cooldown(300 * S, 100)
    assert c.allow("Orders", "Payments", "Charge", NOW)
    for trigger in (" orders ", "ORDERS", "orders\t"):
        assert not c.allow(trigger, " payments", "charge ", NOW + S)
    assert canonical_key(" Orders ", "PAYMENTS", " Charge") == "orders|payments|charge"
    assert c.allow("frontend", "payments", "charge", NOW + S), "another trigger passes"
    assert c.allow("orders", "payments", "refund", NOW + S), "another root operation passes"


def test_a_suppressed_attempt_does_not_extend_the_window() -> None:
    c = Cooldown(300 * S, 100)
    assert c.allow("a", "b", "c", NOW)
    assert not c.allow("a", "b", "c", NOW + 299 * S)
    assert c.allow("a", "b", "c", NOW + 300 * S)


def test_the_janitor_bounds_the_cooldown_map() -> None:
    c = Cooldown(300 * S, 50)
    for i in range(200):
        c.allow(f"svc{i}", "root", "op", NOW + i)
    assert len(c) == 50  # the oldest went as new keys came
    assert c.janitor(NOW + 300 * S + 150) == 1  # only svc150's window has passed
    assert len(c) == 49
    assert c.janitor(NOW + 300 * S + 199) == 49
    assert len(c) == 0


def test_tenant_prune_runs_the_cooldown_janitor() -> None:
    g = TenantGraph("t1", GraphLimits(cooldown_ns=10 * S), NOW)
    g.cooldown.allow("a", "b", "c", NOW)
    g.prune(NOW + 11 * S)
    assert len(g.cooldown) == 0


# -- log clusters ----------------------------------------------------------------------------


def test_log_clusters_per_service_with_severities_follow_template_renames() -> None:
    g = graph()
    g.add_log(log("order 1 failed: timeout", "orders", severity=17), NOW)
    g.add_log(log("order 2 failed: refused", "orders", severity=13), NOW + 1)
    g.add_log(log("order 3 failed: refused", "billing", severity=9), NOW + 2)
    orders = g.signals.clusters_of("orders", 0)
    assert len(orders) == 1
    [c] = orders
    assert c.template == "order <NUM> failed: <*>" and c.count == 2
    assert c.severities == {"ERROR": 1, "WARN": 1} and c.max_severity == 17
    assert len(g.signals.clusters_of("billing", 0)) == 1
    assert g.signals.clusters_of("orders", 0, min_severity=21) == []
    assert g.signals.cluster(c.id) is c


def test_json_bodies_are_clustered_by_their_text() -> None:
    g = graph()
    g.add_log(log({"event": "login", "user": 1}, "auth"), NOW)
    g.add_log(log({"event": "login", "user": 2}, "auth"), NOW)
    [c] = g.signals.clusters_of("auth", 0)
    assert c.count == 2


def test_the_investigation_shows_the_longest_chain_when_the_newest_lacks_its_parents() -> None:
    g = failing_system()
    # the newest failure: payments' span is in, its callers' spans are not yet
    g.add_span(span(777, 3, 2, "payments", "charge", error=True, end=NOW - 500 * 1_000_000,
                    message="card declined"), NOW)  # fmt: skip
    [inv] = investigate(g, detect(g, NOW), NOW)
    assert [s.service for s in inv.causal_chain] == ["frontend", "orders", "payments"]
