"""The graph routes' OpenAPI fragment matches the registered routes and what they return."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from otelctx.api import graph, graph_views, investigations
from otelctx.api.graph_openapi import graph_paths
from otelctx.graph import queries, summary
from otelctx.graph.anomalies import detect
from otelctx.graph.investigate import investigate
from tests.unit.test_graph_core import NOW, log, point
from tests.unit.test_graph_queries import failing_system


def _routes() -> set[str]:
    from quart import Quart

    app = Quart("t")
    app.register_blueprint(graph.blueprint)
    app.register_blueprint(investigations.blueprint)
    return {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith(("graph.", "investigations."))
    }


def test_every_route_is_documented_and_every_documented_path_exists() -> None:
    assert _routes() == set(graph_paths())
    for path, item in graph_paths().items():
        op = item["get"]
        assert {"200", "400"} <= set(op["responses"]), path
        for name in re.findall(r"{(\w+)}", path):
            assert any(p["name"] == name and p["in"] == "path" for p in op["parameters"]), path


def _validate(schema: dict[str, Any], instance: Any) -> None:
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    # through JSON, as a client sees it
    jsonschema_rs.validate(schema, orjson.loads(orjson.dumps(instance)))


def _ok(path: str) -> dict[str, Any]:
    schema: dict[str, Any] = graph_paths()[path]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["schema"]
    return schema


def test_the_bodies_match_their_schemas() -> None:
    g = failing_system()
    g.add_log(log("payment refused for card 1", "payments", severity=17, trace=f"{0:032x}"),
              NOW)  # fmt: skip
    g.add_metric(point("queue", 1.0, "payments"), NOW)
    seen = detect(g, NOW)
    [inv] = investigate(g, seen, NOW)
    window = {"since": "2026-01-01T00:00:00.000000000Z", "since_unix_nano": 1}
    chains = queries.error_chains(g, "frontend", 0)
    _validate(_ok("/api/graph/service-map"), summary.service_map(g, NOW))
    _validate(_ok("/api/graph/error-chains"), {"service_name": "frontend", **window,
              "chains": [graph_views.chain_view(c) for c in chains]})  # fmt: skip
    impacted = queries.impact(g, "payments", 5, NOW)
    _validate(_ok("/api/graph/impact"), {"service_name": "payments", "depth": 5,
              "total_affected": len(impacted),
              "affected": [graph_views.impacted_view(i) for i in impacted]})  # fmt: skip
    causes = queries.rank_root_causes(g, "frontend", 0)
    _validate(_ok("/api/graph/root-cause"), {"service_name": "frontend", **window,
              "causes": [graph_views.cause_view(r) for r in causes]})  # fmt: skip
    corr = queries.correlated(g, "payments", 0)
    _validate(_ok("/api/graph/correlated"), {**graph_views.correlated_view(corr), **window})
    _validate(_ok("/api/graph/anomalies"), {**window, "anomalies": [
        graph_views.anomaly_view(a) for a in g.anomalies.timeline(0)]})  # fmt: skip
    snap = summary.snapshot(g, NOW)
    assert snap is not None
    _validate(_ok("/api/graph/snapshots"), graph_views.snapshot_view(snap))
    _validate(_ok("/api/system/graph"), {"timestamp": "2026-01-01T00:00:00Z",
              "timestamp_unix_nano": NOW, **summary.system_graph(g, NOW, 1.0)})  # fmt: skip
    _validate(_ok("/api/investigations/{investigation_id}"), graph_views.investigation_view(inv))
    _validate(_ok("/api/investigations"), {
        "investigations": [graph_views.investigation_view(inv)], "limit": 20})  # fmt: skip
