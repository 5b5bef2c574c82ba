"""The OpenAPI document against the app and the parsers (no server).

- every route the quart app registers is described, and nothing else is;
- each query operation documents exactly the parameters its parser accepts, with the
  same ranges, enums and defaults;
- every $ref resolves;
- the views of otelctx.api.render validate against the response schemas.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any, cast

import jsonschema_rs
import orjson
import pytest

from otelctx.api import create_app, inputs, otlp_http
from otelctx.api.openapi import OPS, build_document
from otelctx.api.params import BadParameter
from otelctx.api.render import (
    dashboard_view,
    latency_point_view,
    log_view,
    metric_bucket_view,
    purge_view,
    service_map_view,
    span_view,
    stats_view,
    trace_view,
    traffic_bucket_view,
)
from otelctx.config import Settings
from otelctx.deps import Deps
from otelctx.model import (
    LogRecord,
    Scope,
    SpanEvent,
    SpanKind,
    SpanLink,
    SpanRecord,
    StatusCode,
    TraceSummary,
)
from otelctx.storage.base import Percentile
from otelctx.storage.queries import (
    DashboardStats,
    FailingService,
    LatencyPoint,
    MetricBucket,
    PurgeCounts,
    ServiceEdge,
    ServiceMap,
    ServiceNode,
    StoreStats,
    TrafficBucket,
)

NOW = 1_777_000_000_000_000_000
DOC = build_document()
_IGNORED_METHODS = {"HEAD", "OPTIONS"}
# The OTLP route also answers the other methods, with 405 in OTLP's own format.
_OTLP_405 = {"GET", "PUT", "PATCH", "DELETE"}

# the parser of each query route (the parameters it accepts are what it parses)
PARSERS: dict[str, Callable[[dict[str, list[str]]], object]] = {
    "/api/traces": lambda raw: inputs.traces_input(raw, "t"),
    "/api/logs": lambda raw: inputs.logs_input(raw, "t"),
    "/api/logs/context": inputs.log_context_input,
    "/api/metrics": lambda raw: inputs.metrics_input(raw, "t", NOW),
    "/api/metadata/metrics": inputs.metadata_metrics_input,
    "/api/metrics/traffic": lambda raw: inputs.traffic_input(raw, NOW),
    "/api/metrics/latency_heatmap": lambda raw: inputs.heatmap_input(raw, NOW),
    "/api/metrics/dashboard": lambda raw: inputs.dashboard_input(raw, NOW),
    "/api/metrics/service-map": lambda raw: inputs.service_map_input(raw, NOW),
    "/api/admin/purge": lambda raw: inputs.purge_input(raw, NOW),
}
ACCEPTED = {
    "/api/traces": inputs.TRACES_PARAMS, "/api/logs": inputs.LOGS_PARAMS,
    "/api/logs/context": inputs.LOG_CONTEXT_PARAMS, "/api/metrics": inputs.METRICS_PARAMS,
    "/api/metadata/metrics": inputs.METADATA_METRICS_PARAMS,
    "/api/metrics/traffic": inputs.TRAFFIC_PARAMS,
    "/api/metrics/latency_heatmap": inputs.HEATMAP_PARAMS,
    "/api/metrics/dashboard": inputs.DASHBOARD_PARAMS,
    "/api/metrics/service-map": inputs.SERVICE_MAP_PARAMS,
    "/api/admin/purge": inputs.PURGE_PARAMS,
}  # fmt: skip
# what each route needs to parse at all
REQUIRED = {"/api/logs/context": {"timestamp": ["0"]}, "/api/metrics": {"name": ["m"]}}


def registered_routes() -> set[tuple[str, str]]:
    app = create_app(cast(Deps, SimpleNamespace(settings=Settings())))
    out = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        methods = set(rule.methods or ()) - _IGNORED_METHODS
        if path == "/v1/{signal_name}":
            methods -= _OTLP_405
            out |= {(f"/v1/{s}", m) for s in otlp_http._SIGNALS for m in methods}
        else:
            out |= {(path, m) for m in methods}
    return out


def documented_routes() -> set[tuple[str, str]]:
    return {(path, m.upper()) for path, item in DOC["paths"].items() for m in item}


def test_every_route_is_documented_and_nothing_else() -> None:
    registered, documented = registered_routes(), documented_routes()
    assert registered - documented == set(), "routes missing from the OpenAPI document"
    assert documented - registered == set(), "documented routes that do not exist"
    assert len(registered) >= 22


def query_params(path: str) -> dict[str, dict[str, Any]]:
    (op,) = DOC["paths"][path].values()
    return {p["name"]: p for p in op["parameters"] if p["in"] == "query"}


def test_every_query_route_has_a_parser_and_documents_what_it_accepts() -> None:
    routes_with_params = {
        path for path, item in DOC["paths"].items()
        for op in item.values() for p in op.get("parameters", []) if p["in"] == "query"
    }  # fmt: skip
    assert routes_with_params == set(ACCEPTED)
    for path, accepted in ACCEPTED.items():
        assert set(query_params(path)) == set(accepted), path


def test_routes_without_query_parameters_refuse_any() -> None:
    for path, item in DOC["paths"].items():
        if path.startswith("/api/") and path not in ACCEPTED:
            for op in item.values():
                assert [p for p in op.get("parameters", []) if p["in"] == "query"] == []


def _cases() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path in ACCEPTED:
        for name, p in query_params(path).items():
            yield path, name, p


@pytest.mark.parametrize(("path", "name", "p"), list(_cases()), ids=lambda v: str(v)[:40])
def test_documented_ranges_enums_and_defaults_are_the_parsers(
    path: str, name: str, p: dict[str, Any]
) -> None:
    parse = PARSERS[path]
    base = REQUIRED.get(path, {})
    schema = p["schema"]
    if schema.get("type") == "array":
        assert p["explode"] is True and p["style"] == "form"
        parse({**base, name: ["a", "b"]})
        schema = schema["items"]
    elif not p["required"]:
        with pytest.raises(BadParameter, match=f"given more than once|{name}"):
            parse({**base, name: ["1", "1"]})

    def accepts(value: str) -> None:
        parse({**base, name: [value]})

    def refuses(value: str) -> None:
        with pytest.raises(BadParameter) as info:
            parse({**base, name: [value]})
        assert name in str(info.value)

    if schema.get("type") == "integer":
        low, high = schema["minimum"], schema["maximum"]
        accepts(str(low))
        accepts(str(high))
        refuses(str(low - 1))
        refuses(str(high + 1))
        refuses("1.5")
    elif schema.get("type") == "number":
        accepts(str(schema["minimum"]))
        accepts(repr(float(schema["maximum"])))
        refuses("-1")
        refuses("nan")
    elif "enum" in schema:
        for value in schema["enum"]:
            accepts(value)
        refuses(schema["enum"][0].upper() + "x")
    elif "anyOf" in schema:  # a time
        accepts("2026-04-24T03:03:17.123456789Z")
        accepts("1777000000000000000")
        refuses("yesterday")
    elif schema.get("type") == "string":
        if "pattern" in schema:
            assert re.search(schema["pattern"].replace("\\u0000", "\\x00"), "\x00") is None
        refuses("")
        refuses("a\x00b")
    else:
        pytest.fail(f"{path} {name}: no type")


def test_defaults_are_what_the_parsers_use() -> None:
    assert query_params("/api/traces")["limit"]["schema"]["default"] == 20
    assert inputs.traces_input({}, "t").limit == 20
    assert query_params("/api/logs")["limit"]["schema"]["default"] == 50
    assert inputs.logs_input({}, "t").limit == 50
    assert query_params("/api/metrics/latency_heatmap")["limit"]["schema"]["default"] == 2000
    assert inputs.heatmap_input({}, NOW).limit == 2000
    ctx = inputs.log_context_input({"timestamp": ["0"]})
    assert query_params("/api/logs/context")["window"]["schema"]["default"] == ctx.window_seconds
    assert query_params("/api/logs/context")["limit"]["schema"]["default"] == ctx.limit
    assert query_params("/api/admin/purge")["days"]["schema"]["default"] == 7


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_every_reference_resolves_and_the_document_is_json() -> None:
    for target in set(_refs(DOC)):
        node: Any = DOC
        for part in target.removeprefix("#/").split("/"):
            node = node[part]
        assert isinstance(node, dict)
    assert orjson.loads(orjson.dumps(DOC)) == DOC
    assert DOC["openapi"].startswith("3.0")
    assert set(DOC["components"]["responses"]) >= {
        "BadRequest", "Unauthorized", "Forbidden", "NotFound", "TooManyRequests", "Unavailable"
    }  # fmt: skip
    ids = [op["operationId"] for item in DOC["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_security_public_routes_and_error_answers() -> None:
    assert DOC["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert DOC["security"] == [{"bearer": []}]
    # without API keys the server does not ask for one, and the document says so
    assert build_document(auth_required=False)["security"] == [{"bearer": []}, {}]
    for path in ("/live", "/ready", "/metrics/prometheus", "/api/openapi.json", "/api/health"):
        assert DOC["paths"][path]["get"]["security"] == []
    for op in OPS:
        responses = DOC["paths"][op.path][op.method]["responses"]
        assert {"200", "400"} <= set(responses)
        if not op.public:
            assert {"401", "403", "429", "503"} <= set(responses), op.path
            headers = [p["name"] for p in DOC["paths"][op.path][op.method]["parameters"]
                       if p["in"] == "header"]  # fmt: skip
            assert headers == ["X-Tenant-ID"]
    assert "404" in DOC["paths"]["/api/traces/{trace_id}"]["get"]["responses"]
    assert "grow" in DOC["paths"]["/api/metadata/services"]["get"]["description"]


# -- the views against the schemas ----------------------------------------------------


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0 → JSON Schema: ``nullable`` becomes a null type."""
    if isinstance(node, list):
        return [_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        out["type"] = [node["type"], "null"]
    return out


def validate(name: str, instance: Any) -> None:
    root = {"$ref": f"#/components/schemas/{name}",
            "components": _json_schema(DOC["components"])}  # fmt: skip
    jsonschema_rs.validator_for(root, validate_formats=True).validate(
        orjson.loads(orjson.dumps(instance))
    )


SCOPE = Scope("lib", "1.0", {"k": 1})
SPAN = SpanRecord(
    "t", "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", "", "checkout", "GET /cart",
    SpanKind.SERVER, NOW, NOW + 5_000_000, StatusCode.ERROR, "boom", "", {"http.status": 500},
    {"service.name": "checkout"}, SCOPE, (SpanEvent(NOW + 1, "exception", {"x": True}),),
    (SpanLink("0af7651916cd43dd8448eb211c80319d", "b7ad6b7169203332", "", {}),),
)  # fmt: skip
LOG = LogRecord("t", "checkout", NOW, NOW + 1, 17, "ERROR", {"order": 42}, {"a": [1]},
                {"service.name": "checkout"}, SCOPE, SPAN.trace_id, SPAN.span_id, 1)  # fmt: skip
SUMMARY = TraceSummary("t", SPAN.trace_id, "checkout", "GET /cart", NOW, NOW + 5_000_000, 3,
                       1, StatusCode.ERROR)  # fmt: skip


def test_views_match_the_schemas() -> None:
    validate("Span", span_view(SPAN))
    validate("Log", log_view(LOG))
    validate("Log", log_view(LogRecord("t", "s", 0, 0, 0, "", "", {}, {}, Scope(), "", "", 0)))
    trace = trace_view(SUMMARY, ["checkout", "payments"])
    validate("Trace", trace)
    validate("TraceDetail", trace | {"spans": [span_view(SPAN)], "logs": [log_view(LOG)]})
    validate("MetricBucket", metric_bucket_view(MetricBucket(NOW, 1.0, 3.0, 4.0, 2, 1, 2, 3)))
    validate("MetricBucket", metric_bucket_view(MetricBucket(NOW, None, None, float("nan"), 0)))
    validate("TrafficBucket", traffic_bucket_view(TrafficBucket(NOW, 10, 1)))
    validate("LatencyPoint", latency_point_view(LatencyPoint(NOW, 5, SPAN.trace_id, True)))
    stats = DashboardStats(10, 5, 1, 2.5e6, 2, [FailingService("payments", 1, 4)])
    validate("Dashboard", dashboard_view(stats, Percentile(9_000_000, "exact", 10), 0, NOW))
    empty = DashboardStats(0, 0, 0, None, 0)
    view = dashboard_view(empty, Percentile(None, "exact", 0), 0, NOW)
    validate("Dashboard", view)
    assert (view["error_rate"], view["avg_latency_ms"], view["p99_latency_ms"]) == (0, None, None)
    smap = ServiceMap([ServiceNode("a", 3, 1, 2e6)], [ServiceEdge("a", "b", 2, 1, 1e6)])
    view = service_map_view(smap, 0, NOW)
    validate("ServiceMap", view)
    assert view["edges"][0]["error_rate"] == 0.5
    validate("Stats", stats_view(StoreStats(1, 2, 3, 4, 5, 6, 7, 8)))
    validate("Purge", purge_view(PurgeCounts(1, 2, 3, 4), 0))
    with pytest.raises(jsonschema_rs.ValidationError):
        validate("Trace", {"trace_id": SPAN.trace_id})
