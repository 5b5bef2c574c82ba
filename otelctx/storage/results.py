"""Rows of the query API's statements to ``queries`` dataclasses: pure, every backend.

Drivers hand back numbers in their own types (SQLite int/float, asyncpg and asyncmy
``Decimal`` for sums and averages, None for an aggregate over no rows): everything here
goes through ``_int``/``_float``. Rows are sequences in the column order of the
matching ``sql_queries`` builder.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from otelctx.model import MetricType, StatusCode, TraceSummary
from otelctx.storage.percentiles import Distribution
from otelctx.storage.queries import (
    DashboardStats,
    FailingService,
    LatencyPoint,
    MetricBucket,
    ServiceEdge,
    ServiceMap,
    ServiceNode,
    TraceRow,
    TrafficBucket,
)
from otelctx.storage.sql_queries import ERROR, i64

Row = Sequence[Any]

QUANTILES = (0.5, 0.95, 0.99)


def as_int(value: Any) -> int:
    return 0 if value is None else int(value)


def as_float(value: Any) -> float | None:
    if value is None:
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _status(value: Any) -> StatusCode:
    try:
        return StatusCode(int(value))
    except ValueError:
        return StatusCode.UNSET


def trace_rows(tenant_id: str, page: Iterable[Row], services: Iterable[Row]) -> list[TraceRow]:
    """``sql_queries.TRACE_ROW_COLUMNS`` rows with the (trace_id, service) pairs."""
    by_trace: dict[str, set[str]] = {}
    for trace_id, service in services:
        by_trace.setdefault(trace_id, set()).add(service)
    out = []
    for trace_id, root_service, root_op, start, end, spans, errors, status in page:
        out.append(TraceRow(
            summary=TraceSummary(
                tenant_id=tenant_id, trace_id=trace_id, root_service=root_service,
                root_operation=root_op, start_time_unix_nano=int(start),
                end_time_unix_nano=int(end), span_count=int(spans), error_count=int(errors),
                status_code=_status(status),
            ),
            services=sorted(by_trace.get(trace_id, ())),
        ))  # fmt: skip
    return out


def traffic(rows: Iterable[Row], step_ns: int) -> list[TrafficBucket]:
    step = max(1, i64(step_ns))
    return [TrafficBucket(as_int(b) * step, as_int(n), as_int(e)) for b, n, e in rows]


def latency_points(rows: Iterable[Row]) -> list[LatencyPoint]:
    return [
        LatencyPoint(int(start), int(duration), trace_id, int(status) == ERROR)
        for start, duration, trace_id, status in rows
    ]


def dashboard(per_service: Iterable[Row], logs: Row) -> DashboardStats:
    """From (root service, traces, errors, duration sum) rows and the log count."""
    groups = [(name, as_int(n), as_int(e), as_int(total)) for name, n, e, total in per_service]
    count = sum(n for _, n, _, _ in groups)
    failing = sorted((g for g in groups if g[2] > 0), key=lambda g: (-g[2], g[0]))[:5]
    return DashboardStats(
        total_traces=count,
        total_logs=as_int(logs[0]),
        total_errors=sum(e for _, _, e, _ in groups),
        avg_duration_ns=sum(t for _, _, _, t in groups) / count if count else None,
        active_services=len(groups),
        top_failing=[FailingService(name, e, n) for name, n, e, _ in failing],
    )


def service_map(pairs: Iterable[Row], scale: float = 1.0) -> ServiceMap:
    """From ``sql_queries.service_map`` rows; ``scale``: what each span counted stands
    for (the counts are multiplied by it when the spans were sampled)."""
    nodes: dict[str, list[int]] = {}  # service -> [spans, errors, duration sum]
    edges: list[ServiceEdge] = []
    for child, parent, n, e, total in pairs:
        n, e, total = as_int(n), as_int(e), as_int(total)
        acc = nodes.setdefault(child, [0, 0, 0])
        acc[0] += n
        acc[1] += e
        acc[2] += total
        if parent is not None and parent != child and n:
            edges.append(ServiceEdge(parent, child, round(n * scale), round(e * scale), total / n))
    edges.sort(key=lambda x: (x.source, x.target))
    return ServiceMap(
        nodes=[
            ServiceNode(name, round(n * scale), round(e * scale), total / n if n else 0.0)
            for name, (n, e, total) in sorted(nodes.items())
        ],
        edges=edges,
        sample_rate=min(1.0, 1 / scale),
    )


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


class _Bucket:
    __slots__ = ("count", "dist", "max", "min", "sum")

    def __init__(self) -> None:
        self.min: float | None = None
        self.max: float | None = None
        self.sum = 0.0
        self.count = 0
        self.dist: Distribution | None = None


def metric_buckets(
    aggregates: Iterable[Row],
    distributions: Sequence[Row],
    step_ns: int,
    *,
    capped: bool,
) -> list[MetricBucket]:
    """Buckets from ``sql_queries.metric_aggregates`` rows and the distribution points.

    Gauge and sum points contribute their values, the others their counts, sums, mins
    and maxes (a metric name normally has one type; mixed types simply add up).
    ``capped``: the points stopped at the read limit, so the last bucket they reach may
    be incomplete: it and the later ones get no percentiles.
    """
    step = max(1, i64(step_ns))
    buckets: dict[int, _Bucket] = {}
    for row in aggregates:
        number, kind, vmin, vmax, vsum, vcount, csum, ssum, mmin, mmax = row
        acc = buckets.setdefault(as_int(number), _Bucket())
        if kind in (MetricType.GAUGE.value, MetricType.SUM.value):
            acc.min, acc.max = _min(acc.min, as_float(vmin)), _max(acc.max, as_float(vmax))
            acc.sum += as_float(vsum) or 0.0
            acc.count += as_int(vcount)
        else:
            acc.min, acc.max = _min(acc.min, as_float(mmin)), _max(acc.max, as_float(mmax))
            acc.sum += as_float(ssum) or 0.0
            acc.count += as_int(csum)
    cut = None
    if capped and distributions:
        cut = int(distributions[-1][0]) // step
    for time_ns, kind, data, pmin, pmax in distributions:
        number = int(time_ns) // step
        into = buckets.get(number)
        if into is None or (cut is not None and number >= cut):
            continue
        if into.dist is None:
            into.dist = Distribution()
        try:
            parsed = orjson.loads(data)
            metric_type = MetricType(kind)
        except (orjson.JSONDecodeError, ValueError):
            continue
        into.dist.add(metric_type, parsed, as_float(pmin), as_float(pmax))
    out = []
    for number in sorted(buckets):
        acc = buckets[number]
        qs: tuple[float | None, ...] = (None, None, None)
        if acc.dist is not None:
            qs = tuple(acc.dist.quantile(q) for q in QUANTILES)
        out.append(MetricBucket(number * step, acc.min, acc.max, acc.sum, acc.count, *qs))
    return out
