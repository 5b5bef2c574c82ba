"""The query API end to end: real server, real OTel SDK exporters, every backend.

Test rules: one ``otelctx serve`` per backend for the module (localhost, port 0); the
checkout scenario of tests/e2e/sdk_scenario.py is exported once as tenant ``acme``
and a little as tenant ``other``; every other tenant used here is private to its
test, so tests can run in any order. Numbers asserted are computed from what was
sent (durations, errors, counts), never read back from the server first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import backends
from tests.conftest import ServerProcess, start_server
from tests.e2e.sdk_scenario import (
    MS,
    SECOND,
    Scenario,
    call,
    export_checkout,
    export_root_traces,
    ok,
    refused,
)

pytestmark = pytest.mark.timeout(120)

MINUTE = 60 * SECOND
DAY = 86_400 * SECOND


@pytest.fixture(scope="module", params=backends.BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, Scenario]]:
    backends.require(request.param)
    srv = start_server(tmp_path_factory.mktemp("query-api"), driver=request.param)
    try:
        base = (time.time_ns() // MINUTE - 10) * MINUTE  # ten minutes ago, minute-aligned
        scenario = export_checkout(srv, "acme", base)
        export_root_traces(srv, "other", "intruder", base, [5 * MS], error_every=1)
        yield srv, scenario
    finally:
        srv.stop()


def trace_ids(body: dict[str, Any]) -> list[str]:
    return [t["trace_id"] for t in body["traces"]]


# -- traces ------------------------------------------------------------------------------


def test_trace_search_filters(world: tuple[ServerProcess, Scenario]) -> None:
    srv, sc = world

    def found(**params: Any) -> set[str]:
        body = ok(srv, "/api/traces", {**params, "limit": 1000})
        assert body["total"] == len(body["traces"])
        return set(trace_ids(body))

    everything = {t.trace_id for t in sc.traces}
    assert found() == everything
    # span-level: any span of the trace in that service
    assert found(service_name="payments") == sc.ids(root_service="frontend")
    assert found(service_name=["payments", "orders"]) == everything
    assert found(service_name="orders", operation="cron") == sc.ids(root_service="orders")
    assert found(service_name="payments", operation="cron") == set()
    assert found(operation="charge") == sc.ids(root_service="frontend")
    assert found(status="error") == sc.ids(failed=True)
    assert found(status="unset") == everything - sc.ids(failed=True)
    assert found(status="ok") == set()
    assert found(min_duration_ms=450) == {t.trace_id for t in sc.traces
                                          if t.duration_ns >= 450 * MS}  # fmt: skip
    assert found(max_duration_ms="25.5") == {t.trace_id for t in sc.traces
                                             if t.duration_ns <= 25.5 * MS}  # fmt: skip
    assert len(found(max_duration_ms="25.5")) == 2
    assert found(min_duration_ms=150, max_duration_ms=350) == {
        t.trace_id for t in sc.traces if 150 * MS <= t.duration_ns <= 350 * MS
    }
    # attribute equality as text: ints in JSON form, booleans true/false
    assert found(**{"attr.http.status_code": "500"}) == sc.ids(failed=True)
    assert found(**{"attr.retry": "true"}) == {t.trace_id for i, t in enumerate(sc.traces[:12])
                                               if i % 2 == 0}  # fmt: skip
    assert found(**{"attr.retry": "true", "attr.http.status_code": "500"}) == set()
    assert found(**{"attr.http.route": "/checkout", "status": "error"}) == sc.ids(failed=True)
    # the window applies to the trace's start: [start, end)
    first, fourth = sc.traces[0], sc.traces[3]
    window = {"start": str(first.start_ns), "end": str(fourth.start_ns)}
    assert found(**window) == {t.trace_id for t in sc.traces[:3]}
    assert found(start=_rfc3339(fourth.start_ns), end=_rfc3339(fourth.start_ns + 1)) == {
        fourth.trace_id
    }


def _rfc3339(ns: int) -> str:
    secs, frac = divmod(ns, SECOND)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def test_trace_views(world: tuple[ServerProcess, Scenario]) -> None:
    srv, sc = world
    failed = sc.traces[3]
    (t,) = ok(srv, "/api/traces", {"start": failed.start_ns, "end": failed.start_ns + 1,
                                   "service_name": "frontend"})["traces"]  # fmt: skip
    assert t["trace_id"] == failed.trace_id
    assert (t["root_service"], t["root_operation"]) == ("frontend", "GET /checkout")
    assert (t["span_count"], t["error_count"], t["status"]) == (3, 1, "STATUS_CODE_ERROR")
    assert t["services"] == ["frontend", "orders", "payments"]
    assert t["start_time_unix_nano"] == failed.start_ns
    assert t["duration_ms"] == failed.duration_ns / MS
    detail = ok(srv, f"/api/traces/{failed.trace_id.upper()}")
    assert len(detail["spans"]) == 3
    assert sorted(r["body"] for r in detail["logs"]) == ["Card DECLINED for order 3",
                                                        "order 3 placed"]  # fmt: skip


@pytest.mark.parametrize(
    ("sort", "key"),
    [({}, lambda t: (-t.start_ns,)),
     ({"sort_by": "timestamp", "order": "asc"}, lambda t: (t.start_ns,)),
     ({"sort_by": "duration", "order": "asc"}, lambda t: (t.duration_ns,)),
     ({"sort_by": "duration"}, lambda t: (-t.duration_ns,))],
    ids=["default", "timestamp-asc", "duration-asc", "duration-desc"],
)  # fmt: skip
def test_trace_pages_are_stable_and_sorted(
    world: tuple[ServerProcess, Scenario], sort: dict[str, str], key: Any
) -> None:
    srv, sc = world
    expected = [t.trace_id for t in sorted(sc.traces, key=key)]
    pages = []
    for offset in range(0, 16, 4):
        body = ok(srv, "/api/traces", {**sort, "limit": 4, "offset": offset})
        assert (body["total"], body["limit"], body["offset"]) == (15, 4, offset)
        pages += trace_ids(body)
    assert pages == expected
    body = ok(srv, "/api/traces", {**sort, "limit": 4, "offset": 100})
    assert (body["traces"], body["total"]) == ([], 15)


# -- logs --------------------------------------------------------------------------------


def test_log_search_filters(world: tuple[ServerProcess, Scenario]) -> None:
    srv, sc = world

    def bodies(**params: Any) -> list[str]:
        body = ok(srv, "/api/logs", {**params, "limit": 1000})
        assert body["total"] == len(body["logs"])
        return sorted(r["body"] for r in body["logs"])

    def expected(pred: Any) -> list[str]:
        return sorted(r["body"] for r in sc.logs if pred(r))

    assert bodies() == expected(lambda r: True)
    assert bodies(search="declined") == expected(lambda r: "DECLINED" in r["body"])
    assert bodies(search="DeClInEd FOR") == expected(lambda r: "DECLINED" in r["body"])
    assert bodies(search="3 ") == expected(lambda r: "3 " in r["body"])  # short: no FTS
    assert bodies(search="y o") == ["Slow query on orders_db"]
    assert bodies(severity="error") == expected(lambda r: r["severity"] >= 17)
    assert bodies(severity="17") == bodies(severity="ERROR")
    assert bodies(severity="Warning") == expected(lambda r: r["severity"] >= 13)
    assert bodies(service_name="payments") == expected(lambda r: r["service"] == "payments")
    failed = sc.traces[7]
    assert bodies(trace_id=failed.trace_id) == ["Card DECLINED for order 7", "order 7 placed"]
    assert bodies(trace_id=failed.trace_id, severity="error") == ["Card DECLINED for order 7"]
    t0 = sc.traces[1].start_ns
    assert bodies(start=t0, end=t0 + 10 * MS) == ["order 1 placed"]
    assert bodies(search="order", service_name="orders", severity="warn") == [
        "Slow query on orders_db"
    ]
    (log,) = ok(srv, "/api/logs", {"trace_id": failed.trace_id, "severity": "error"})["logs"]
    assert (log["service_name"], log["severity_number"], log["trace_id"]) == (
        "payments", 17, failed.trace_id)  # fmt: skip
    assert log["timestamp_unix_nano"] == failed.start_ns + 20 * MS


def test_log_pages_are_stable(world: tuple[ServerProcess, Scenario]) -> None:
    srv, sc = world
    for order in ("desc", "asc"):
        full = ok(srv, "/api/logs", {"order": order, "limit": 1000})
        stamps = [r["timestamp_unix_nano"] for r in full["logs"]]
        assert stamps == sorted(stamps, reverse=order == "desc")
        pages: list[Any] = []
        for offset in range(0, full["total"], 7):
            pages += ok(srv, "/api/logs", {"order": order, "limit": 7, "offset": offset})["logs"]
        assert pages == full["logs"]
        assert full["total"] == len(sc.logs)


def test_log_context(world: tuple[ServerProcess, Scenario]) -> None:
    srv, sc = world
    at = sc.traces[3].start_ns + 6 * MS  # "order 3 placed"
    body = ok(srv, "/api/logs/context", {"timestamp": at, "window": 1})
    assert [r["body"] for r in body["logs"]] == ["order 3 placed", "Card DECLINED for order 3"]
    assert (body["timestamp_unix_nano"], body["window_seconds"]) == (at, 1)
    body = ok(srv, "/api/logs/context", {"timestamp": at, "window": 60, "limit": 2})
    # the two nearest before the instant and the first two from it on, oldest first
    stamps = [r["timestamp_unix_nano"] for r in body["logs"]]
    before = sorted(r["ts"] for r in sc.logs if at - 60 * SECOND <= r["ts"] < at)[-2:]
    after = sorted(r["ts"] for r in sc.logs if at <= r["ts"] <= at + 60 * SECOND)[:2]
    assert stamps == before + after
    assert ok(srv, "/api/logs/context", {"timestamp": 0})["logs"] == []


# -- metrics, metadata, overview -----------------------------------------------------------


def test_metadata(world: tuple[ServerProcess, Scenario]) -> None:
    srv, _ = world
    assert ok(srv, "/api/metadata/services") == {"services": ["frontend", "orders", "payments"]}
    assert ok(srv, "/api/metadata/metrics") == {"metrics": ["http.server.duration", "queue.depth"]}
    assert ok(srv, "/api/metadata/metrics", {"service_name": "orders"}) == {
        "metrics": ["queue.depth"]
    }
    assert ok(srv, "/api/metadata/metrics", {"service_name": "nope"}) == {"metrics": []}


def test_metric_buckets(world: tuple[ServerProcess, Scenario]) -> None:
    srv, sc = world
    body = ok(srv, "/api/metrics", {"name": "queue.depth", "service_name": "orders"})
    # the last hour in at most 120 buckets: one minute each
    assert (body["name"], body["service_name"], body["step_seconds"]) == (
        "queue.depth", "orders", 60)  # fmt: skip
    b = body["buckets"]
    assert sum(x["count"] for x in b) == 3
    assert min(x["min"] for x in b) == min(sc.gauge_values)
    assert max(x["max"] for x in b) == max(sc.gauge_values)
    assert sum(x["sum"] for x in b) == sum(sc.gauge_values)
    for x in b:
        assert x["avg"] == pytest.approx(x["sum"] / x["count"])
        assert x["time_unix_nano"] % (60 * SECOND) == 0
    body = ok(srv, "/api/metrics", {"name": "queue.depth", "step": 7200})
    assert body["step_seconds"] == 7200 and len(body["buckets"]) in (1, 2)

    (h,) = ok(srv, "/api/metrics", {"name": "http.server.duration", "step": 3600})["buckets"]
    assert (h["count"], h["sum"], h["min"], h["max"]) == (100, 5050, 1, 100)
    # estimated from the buckets (0,5,10,25,50,75,100,…): the true values are 50, 95, 99
    assert 45 <= h["p50"] <= 55
    assert 90 <= h["p95"] <= 100 and 95 <= h["p99"] <= 100
    assert ok(srv, "/api/metrics", {"name": "queue.depth", "service_name": "frontend"})[
        "buckets"] == []  # fmt: skip


def test_traffic_and_heatmap(world: tuple[ServerProcess, Scenario]) -> None:
    srv, sc = world
    body = ok(srv, "/api/metrics/traffic")
    assert body["step_seconds"] == 60
    assert sum(b["count"] for b in body["buckets"]) == 15
    assert sum(b["error_count"] for b in body["buckets"]) == 3
    window = {"start": sc.base_ns, "end": sc.base_ns + 2 * MINUTE, "step": 10}
    body = ok(srv, "/api/metrics/traffic", window)
    expected = {sc.base_ns + i * 10 * SECOND: (1, int(i % 4 == 3)) for i in range(12)}
    assert {b["time_unix_nano"]: (b["count"], b["error_count"]) for b in body["buckets"]} == (
        expected)  # fmt: skip
    roots = ok(srv, "/api/metrics/traffic", {"service_name": "orders"})["buckets"]
    assert sum(b["count"] for b in roots) == 3

    points = ok(srv, "/api/metrics/latency_heatmap")["points"]
    assert len(points) == 15
    stamps = [p["time_unix_nano"] for p in points]
    assert stamps == sorted(stamps, reverse=True)
    by_id = {t.trace_id: t for t in sc.traces}
    for p in points:
        t = by_id[p["trace_id"]]
        assert (p["duration_ms"], p["is_error"], p["time_unix_nano"]) == (
            t.duration_ns / MS, t.failed, t.start_ns)  # fmt: skip
    newest = ok(srv, "/api/metrics/latency_heatmap", {"limit": 2})["points"]
    assert [p["trace_id"] for p in newest] == [p["trace_id"] for p in points[:2]]
    assert len(ok(srv, "/api/metrics/latency_heatmap", {"service_name": "orders"})["points"]) == 3


def nearest_rank_p99(durations: list[int]) -> int:
    ordered = sorted(durations)
    return ordered[math.ceil(0.99 * len(ordered)) - 1]


def test_dashboard(world: tuple[ServerProcess, Scenario]) -> None:
    srv, sc = world
    d = ok(srv, "/api/metrics/dashboard")
    durations = [t.duration_ns for t in sc.traces]
    assert (d["total_traces"], d["total_errors"], d["active_services"]) == (15, 3, 2)
    assert d["total_logs"] == len(sc.logs)
    assert d["error_rate"] == pytest.approx(3 / 15)
    assert d["avg_latency_ms"] == pytest.approx(sum(durations) / len(durations) / MS)
    assert d["p99_latency_ms"] == nearest_rank_p99(durations) / MS
    assert d["p99_rows"] == 15 and d["p99_method"] in ("exact", "percentile_disc", "offset")
    assert d["top_failing_services"] == [
        {"service_name": "frontend", "error_count": 3, "total_count": 12, "error_rate": 0.25}
    ]
    o = ok(srv, "/api/metrics/dashboard", {"service_name": "orders"})
    assert (o["total_traces"], o["total_errors"], o["error_rate"]) == (3, 0, 0)
    assert o["p99_latency_ms"] == 30 and o["top_failing_services"] == []
    assert o["total_logs"] == sum(r["service"] == "orders" for r in sc.logs)
    empty = ok(srv, "/api/metrics/dashboard", {"start": 0, "end": 1})
    assert (empty["total_traces"], empty["avg_latency_ms"], empty["p99_latency_ms"]) == (
        0, None, None)  # fmt: skip
    assert (empty["start_unix_nano"], empty["end_unix_nano"]) == (0, 1)


def test_dashboard_p99_is_the_nearest_rank(world: tuple[ServerProcess, Scenario]) -> None:
    srv, _ = world
    durations = [(i * 37 % 300 + 1) * MS for i in range(300)]  # 1..300 ms, shuffled
    start = time.time_ns() - 5 * MINUTE
    export_root_traces(srv, "p99", "batch", start, durations)
    d = ok(srv, "/api/metrics/dashboard", tenant="p99")
    assert d["total_traces"] == 300
    assert d["p99_latency_ms"] == nearest_rank_p99(durations) / MS == 297


def test_service_map(world: tuple[ServerProcess, Scenario]) -> None:
    srv, _ = world
    m = ok(srv, "/api/metrics/service-map")
    nodes = {n["name"]: n for n in m["nodes"]}
    assert [n["name"] for n in m["nodes"]] == ["frontend", "orders", "payments"]
    assert {k: (n["span_count"], n["error_count"]) for k, n in nodes.items()} == {
        "frontend": (12, 0), "orders": (15, 0), "payments": (12, 3)}  # fmt: skip
    assert nodes["payments"]["error_rate"] == 0.25
    assert nodes["payments"]["avg_latency_ms"] == pytest.approx(50)
    edges = {(e["source"], e["target"]): e for e in m["edges"]}
    assert set(edges) == {("frontend", "orders"), ("orders", "payments")}
    pay = edges["orders", "payments"]
    assert (pay["call_count"], pay["error_count"], pay["error_rate"]) == (12, 3, 0.25)
    assert pay["avg_latency_ms"] == pytest.approx(50)
    fo = edges["frontend", "orders"]
    assert (fo["call_count"], fo["error_count"]) == (12, 0)
    # orders' children last (i+1)*100 - 10 ms
    assert fo["avg_latency_ms"] == pytest.approx(sum((i + 1) * 100 - 10 for i in range(12)) / 12)
    empty = ok(srv, "/api/metrics/service-map", {"start": 0, "end": 1})
    assert (empty["nodes"], empty["edges"], empty["end_unix_nano"]) == ([], [], 1)


def test_stats(world: tuple[ServerProcess, Scenario]) -> None:
    srv, sc = world
    s = ok(srv, "/api/stats")
    assert (s["spans"], s["traces"], s["error_traces"]) == (39, 15, 3)
    assert (s["logs"], s["error_logs"]) == (len(sc.logs), 3)
    assert s["metric_points"] == 4  # three gauge points, one histogram point
    assert s["services"] == 3
    assert s["db_size_bytes"] > 0


# -- tenants -------------------------------------------------------------------------------

ROUTES = [
    ("/api/traces", {}), ("/api/logs", {}), ("/api/metadata/services", {}),
    ("/api/metadata/metrics", {}), ("/api/metrics", {"name": "queue.depth"}),
    ("/api/metrics/traffic", {}), ("/api/metrics/latency_heatmap", {}),
    ("/api/metrics/dashboard", {}), ("/api/metrics/service-map", {}), ("/api/stats", {}),
    ("/api/logs/context", {"timestamp": "NOW"}),
]  # fmt: skip


def test_tenants_see_only_their_own_data(world: tuple[ServerProcess, Scenario]) -> None:
    srv, sc = world
    acme_ids = {t.trace_id for t in sc.traces}
    (other_id,) = trace_ids(ok(srv, "/api/traces", tenant="other"))
    for path, params in ROUTES:
        params = {k: (sc.base_ns + MINUTE if v == "NOW" else v) for k, v in params.items()}
        for tenant, hidden in (
            ("acme", ["intruder"]),
            ("other", ["frontend", "orders"]),
            (None, ["frontend", "intruder"]),
            ("nobody", ["frontend", "intruder"]),
        ):
            text = str(ok(srv, path, params, tenant=tenant))
            for name in hidden:
                assert name not in text, (path, tenant, name)
            for trace_id in acme_ids if tenant != "acme" else {other_id}:
                assert trace_id not in text, (path, tenant)
    assert ok(srv, f"/api/traces/{sc.traces[0].trace_id}", tenant="acme")
    status, _, body = call(srv, f"/api/traces/{sc.traces[0].trace_id}", tenant="other")
    assert (status, body) == (404, {"error": "trace not found"})
    status, _, _ = call(srv, f"/api/traces/{other_id}", tenant="acme")
    assert status == 404
    assert ok(srv, "/api/stats", tenant="nobody")["spans"] == 0
    assert ok(srv, "/api/metrics/dashboard", tenant="other")["total_traces"] == 1


def test_purge_deletes_only_old_data_of_the_tenant(world: tuple[ServerProcess, Scenario]) -> None:
    srv, _ = world
    now = time.time_ns()
    old, recent = now - 10 * DAY, now - MINUTE
    for tenant in ("purge-a", "purge-b"):
        export_root_traces(srv, tenant, "svc", old, [MS, MS, MS])
        export_root_traces(srv, tenant, "svc", recent, [MS])
    before_acme = ok(srv, "/api/stats") | {"db_size_bytes": 0}
    body = ok(srv, "/api/admin/purge", {"days": 7}, tenant="purge-a", method="DELETE")
    assert (body["spans_purged"], body["traces_purged"]) == (3, 3)
    assert (body["logs_purged"], body["metric_points_purged"]) == (0, 0)
    assert abs(body["cutoff_unix_nano"] - (now - 7 * DAY)) < 60 * SECOND
    assert ok(srv, "/api/traces", {"start": 0}, tenant="purge-a")["total"] == 1
    assert ok(srv, "/api/traces", {"start": 0}, tenant="purge-b")["total"] == 4
    assert ok(srv, "/api/stats") | {"db_size_bytes": 0} == before_acme
    again = ok(srv, "/api/admin/purge", tenant="purge-a", method="DELETE")
    assert again["spans_purged"] == 0


# -- operations ----------------------------------------------------------------------------


def test_health_and_vacuum(world: tuple[ServerProcess, Scenario]) -> None:
    srv, sc = world
    h = ok(srv, "/api/health", tenant=None)
    assert (h["status"], h["database"]) == ("ok", "ok")
    assert h["uptime_seconds"] > 0
    assert h["ingest"]["accepted_items"]["traces"] >= 40
    assert h["ingest"]["accepted_items"]["logs"] >= len(sc.logs)
    assert h["ingest"]["queue_items"] >= 0 and h["ingest"]["queue_max_items"] == 200_000
    assert h["dlq"] == {"files": 0, "bytes": 0}
    assert ok(srv, "/api/admin/vacuum", method="POST") == {"status": "ok"}
    assert ok(srv, "/api/stats")["traces"] == 15


def test_errors_are_json(world: tuple[ServerProcess, Scenario]) -> None:
    srv, _ = world
    status, headers, body = call(srv, "/api/nothing-here")
    assert (status, body) == (404, {"error": "not found"})
    status, headers, body = call(srv, "/api/traces", method="POST")
    assert (status, body) == (405, {"error": "method not allowed"})
    assert "GET" in headers["allow"]
    status, _, body = call(srv, "/api/admin/purge")
    assert status == 405
    assert refused(srv, "/api/traces", {"limt": 5}) == "unknown parameter: limt"
    status, _, body = call(srv, "/api/traces", tenant="bad\x7ftenant")
    assert status == 400 and "X-Tenant-ID" in body["error"]


# -- the p99 above the row cap (SQLite samples) -------------------------------------------


def test_dashboard_p99_above_the_row_cap_is_sampled_not_biased(tmp_path: Path) -> None:
    srv = start_server(tmp_path, env={"DASHBOARD_P99_ROW_CAP": "1000"})
    try:
        # 4800 traces of 1..1000 ms and a band of 200 at 2000..2010 ms: the p99 (rank
        # 4950) is in the band, which any fair sample of ~1000 hits; the original's
        # "first 200k rows" read would land below 1000 ms.
        durations = [(1 + i * 999 // 4799) * MS for i in range(4800)]
        durations += [2000 * MS + k * 50_000 for k in range(200)]
        start = time.time_ns() - 10 * MINUTE
        export_root_traces(srv, "acme", "svc", start, durations)
        assert _cap_hits(srv) == 0
        d = ok(srv, "/api/metrics/dashboard", {"start": start})
        exact = nearest_rank_p99(durations) / MS
        assert exact == pytest.approx(2007.45)
        assert (d["p99_method"], d["p99_rows"], d["total_traces"]) == ("sample", 5000, 5000)
        assert d["p99_latency_ms"] == pytest.approx(exact, rel=0.01)
        assert _cap_hits(srv) == 1
        # under the cap it is exact and not counted
        small = ok(srv, "/api/metrics/dashboard", {"start": start, "end": start + 900 * MS})
        assert small["p99_method"] == "exact" and _cap_hits(srv) == 1
    finally:
        srv.stop()


def _cap_hits(srv: ServerProcess) -> float:
    _, _, text = call(srv, "/metrics/prometheus", tenant=None)
    for family in text_string_to_metric_families(text):
        if family.name == "otelcontext_dashboard_p99_row_cap_hits":
            return sum(s.value for s in family.samples if s.name.endswith("_total"))
    raise AssertionError("otelcontext_dashboard_p99_row_cap_hits_total is missing")
