"""Metric and overview routes: ``/api/metrics``, ``/api/metrics/traffic``,
``/api/metrics/latency_heatmap``, ``/api/metrics/dashboard``,
``/api/metrics/service-map`` and ``/api/metadata/*``.

Every route reads the request's tenant only. Windows default to the last 30 minutes
(``/api/metrics``: the last hour) and are ``[start, end)``.
"""

from __future__ import annotations

import time

from quart import Blueprint, Response

from otelctx.api.context import deps, json_response, query_args, request_tenant
from otelctx.api.inputs import (
    SECOND,
    dashboard_input,
    heatmap_input,
    metadata_metrics_input,
    metrics_input,
    no_input,
    service_map_input,
    traffic_input,
)
from otelctx.api.render import (
    dashboard_view,
    latency_point_view,
    metric_bucket_view,
    service_map_view,
    traffic_bucket_view,
    window_view,
)

blueprint = Blueprint("metrics", __name__)

# Percentile.method when SQLite estimated the p99 from a sample above the row cap
_SAMPLED = "sample"


@blueprint.get("/api/metrics")
async def metric_series() -> Response:
    q = metrics_input(query_args(), request_tenant(), time.time_ns())
    buckets = await deps().storage.metric_buckets(q)
    return json_response(
        {
            "name": q.name,
            "service_name": q.service,
            "step_seconds": q.step_ns / SECOND,
            **window_view(q.start_ns, q.end_ns),
            "buckets": [metric_bucket_view(b) for b in buckets],
        }
    )


@blueprint.get("/api/metadata/services")
async def services() -> Response:
    no_input(query_args())
    names = await deps().storage.list_services(request_tenant())
    return json_response({"services": names})


@blueprint.get("/api/metadata/metrics")
async def metric_names() -> Response:
    service = metadata_metrics_input(query_args())
    names = await deps().storage.list_metric_names(request_tenant(), service)
    return json_response({"metrics": names})


@blueprint.get("/api/metrics/traffic")
async def traffic() -> Response:
    t = traffic_input(query_args(), time.time_ns())
    w = t.window
    buckets = await deps().storage.traffic(
        request_tenant(), w.start_ns, w.end_ns, t.step_ns, t.services
    )
    return json_response(
        {
            "buckets": [traffic_bucket_view(b) for b in buckets],
            "step_seconds": t.step_ns / SECOND,
            **window_view(w.start_ns, w.end_ns),
        }
    )


@blueprint.get("/api/metrics/latency_heatmap")
async def latency_heatmap() -> Response:
    h = heatmap_input(query_args(), time.time_ns())
    w = h.window
    points = await deps().storage.latency_points(
        request_tenant(), w.start_ns, w.end_ns, h.services, h.limit
    )
    return json_response(
        {
            "points": [latency_point_view(p) for p in points],
            "limit": h.limit,
            **window_view(w.start_ns, w.end_ns),
        }
    )


@blueprint.get("/api/metrics/dashboard")
async def dashboard() -> Response:
    f = dashboard_input(query_args(), time.time_ns())
    tenant, w = request_tenant(), f.window
    d = deps()
    stats = await d.storage.dashboard(tenant, w.start_ns, w.end_ns, f.services)
    p99 = await d.storage.p99_duration(
        tenant,
        w.start_ns,
        w.end_ns,
        row_cap=d.settings.dashboard_p99_row_cap,
        services=f.services,
    )
    if p99.method == _SAMPLED:
        d.metrics.dashboard_p99_row_cap_hits.inc()
    return json_response(dashboard_view(stats, p99, w.start_ns, w.end_ns))


@blueprint.get("/api/metrics/service-map")
async def service_map() -> Response:
    w = service_map_input(query_args(), time.time_ns())
    m = await deps().storage.service_map(request_tenant(), w.start_ns, w.end_ns)
    return json_response(service_map_view(m, w.start_ns, w.end_ns))
