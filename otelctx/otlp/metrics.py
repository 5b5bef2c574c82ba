"""``ExportMetricsServiceRequest`` → one ``MetricPoint`` per data point.

Gauge and sum points carry ``value`` (as_double, or float(as_int)); sums also their
aggregation temporality and monotonicity. Histogram, exponential histogram and summary
points carry count/sum/min/max (``None`` when the optional field is absent) and keep the
rest in ``data``:

- histogram: ``{"bucket_counts": [...], "explicit_bounds": [...]}``
- exponential histogram: ``{"scale", "zero_count", "zero_threshold",
  "positive": {"offset", "bucket_counts"}, "negative": {...}}``
- summary: ``{"quantiles": [{"quantile", "value"}, ...]}``

Point flags, when non-zero, are kept as ``data["flags"]``. Exemplars are not stored.
A metric without a name rejects all its points; a metric without data has none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from otelctx.model import Attributes, JSONValue, MetricPoint, MetricType, Scope
from otelctx.otlp.policy import IngestPolicy
from otelctx.otlp.tally import COUNT_PROBLEM, MAX_TIME, TIME_PROBLEM, Tally, admit
from otelctx.otlp.values import AttributeCache, Pair

_TYPES = {
    "gauge": MetricType.GAUGE,
    "sum": MetricType.SUM,
    "histogram": MetricType.HISTOGRAM,
    "exponential_histogram": MetricType.EXPONENTIAL_HISTOGRAM,
    "summary": MetricType.SUMMARY,
}


def points_from(request: Any, policy: IngestPolicy, tally: Tally) -> list[MetricPoint]:
    """``request`` is a ``schema.REQUEST_CLASSES[Signal.METRICS]`` message."""
    records: list[MetricPoint] = []
    cache = AttributeCache()
    pair = cache.__getitem__
    for resource_metrics in request.resource_metrics:
        resource = dict(map(pair, resource_metrics.resource.attributes))
        scope_metrics_list = resource_metrics.scope_metrics
        admitted = admit(policy, resource, tally, partial(_point_count, scope_metrics_list))
        if admitted is None:
            continue
        tenant, service = admitted
        for scope_metrics in scope_metrics_list:
            scope_record = cache.scope(scope_metrics.scope)
            for metric in scope_metrics.metrics:
                which = metric.WhichOneof("data")
                if which is None:
                    continue
                data = getattr(metric, which)
                if not metric.name:
                    tally.reject(len(data.data_points), "metric name is empty")
                    continue
                head = _Head(tenant, service, metric, _TYPES[which], resource, scope_record, pair)
                for point in _BUILDERS[which](head, data):
                    problem = _range_problem(point)
                    if problem is None:
                        records.append(point)
                    else:
                        tally.reject(1, problem)
    return records


def _range_problem(p: MetricPoint) -> str | None:
    if p.time_unix_nano > MAX_TIME or p.start_time_unix_nano > MAX_TIME:
        return TIME_PROBLEM
    if p.count is not None and p.count > MAX_TIME:
        return COUNT_PROBLEM
    return None


def _point_count(scope_metrics_list: Iterable[Any]) -> int:
    return sum(_points_of(m) for scope in scope_metrics_list for m in scope.metrics)


def _points_of(metric: Any) -> int:
    which = metric.WhichOneof("data")
    return 0 if which is None else len(getattr(metric, which).data_points)


class _Head:
    """The fields every point of one metric shares."""

    __slots__ = (
        "description",
        "metric_type",
        "name",
        "pair",
        "resource",
        "scope",
        "service",
        "tenant",
        "unit",
    )

    def __init__(
        self,
        tenant: str,
        service: str,
        metric: Any,
        metric_type: MetricType,
        resource: Attributes,
        scope_record: Scope,
        pair: Callable[[bytes], Pair],
    ) -> None:
        self.pair = pair
        self.tenant = tenant
        self.service = service
        self.name: str = metric.name
        self.description: str = metric.description
        self.unit: str = metric.unit
        self.metric_type = metric_type
        self.resource = resource
        self.scope = scope_record

    def point(
        self,
        p: Any,
        *,
        value: float | None = None,
        count: int | None = None,
        sum_: float | None = None,
        min_: float | None = None,
        max_: float | None = None,
        data: dict[str, JSONValue],
        temporality: int = 0,
        monotonic: bool = False,
    ) -> MetricPoint:
        flags: int = p.flags
        if flags:
            data["flags"] = flags
        return MetricPoint(
            tenant_id=self.tenant,
            service_name=self.service,
            name=self.name,
            description=self.description,
            unit=self.unit,
            metric_type=self.metric_type,
            time_unix_nano=p.time_unix_nano,
            start_time_unix_nano=p.start_time_unix_nano,
            attributes=dict(map(self.pair, p.attributes)),
            resource=self.resource,
            scope=self.scope,
            value=value,
            count=count,
            sum=sum_,
            min=min_,
            max=max_,
            data=data,
            aggregation_temporality=temporality,
            is_monotonic=monotonic,
        )


def _number_value(p: Any) -> float | None:
    which = p.WhichOneof("value")
    if which == "as_double":
        as_double: float = p.as_double
        return as_double
    if which == "as_int":
        return float(p.as_int)
    return None


def _gauge(head: _Head, gauge: Any) -> Iterable[MetricPoint]:
    return [head.point(p, value=_number_value(p), data={}) for p in gauge.data_points]


def _sum(head: _Head, sum_: Any) -> Iterable[MetricPoint]:
    temporality: int = sum_.aggregation_temporality
    monotonic: bool = sum_.is_monotonic
    return [
        head.point(p, value=_number_value(p), data={}, temporality=temporality, monotonic=monotonic)
        for p in sum_.data_points
    ]


def _optional(p: Any, field: str) -> float | None:
    if p.HasField(field):
        value: float = getattr(p, field)
        return value
    return None


def _histogram(head: _Head, histogram: Any) -> Iterable[MetricPoint]:
    temporality: int = histogram.aggregation_temporality
    return [
        head.point(
            p,
            count=p.count,
            sum_=_optional(p, "sum"),
            min_=_optional(p, "min"),
            max_=_optional(p, "max"),
            data={
                "bucket_counts": list(p.bucket_counts),
                "explicit_bounds": list(p.explicit_bounds),
            },
            temporality=temporality,
        )
        for p in histogram.data_points
    ]


def _buckets(buckets: Any) -> dict[str, JSONValue]:
    return {"offset": buckets.offset, "bucket_counts": list(buckets.bucket_counts)}


def _exponential_histogram(head: _Head, histogram: Any) -> Iterable[MetricPoint]:
    temporality: int = histogram.aggregation_temporality
    return [
        head.point(
            p,
            count=p.count,
            sum_=_optional(p, "sum"),
            min_=_optional(p, "min"),
            max_=_optional(p, "max"),
            data={
                "scale": p.scale,
                "zero_count": p.zero_count,
                "zero_threshold": p.zero_threshold,
                "positive": _buckets(p.positive),
                "negative": _buckets(p.negative),
            },
            temporality=temporality,
        )
        for p in histogram.data_points
    ]


def _summary(head: _Head, summary: Any) -> Iterable[MetricPoint]:
    return [
        head.point(
            p,
            count=p.count,
            sum_=p.sum,
            data={
                "quantiles": [{"quantile": q.quantile, "value": q.value} for q in p.quantile_values]
            },
        )
        for p in summary.data_points
    ]


_BUILDERS = {
    "gauge": _gauge,
    "sum": _sum,
    "histogram": _histogram,
    "exponential_histogram": _exponential_histogram,
    "summary": _summary,
}
