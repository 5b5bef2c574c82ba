"""Records to database rows and back: pure, shared by every backend.

Nested values (attributes, resource, scope, events, links, histogram data) are
stored as compact JSON text; everything else in its own column so the API can
filter and sort on it. Column order here is the order of the INSERT statements.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import orjson

from otelctx.model import (
    Attributes,
    LogRecord,
    MetricPoint,
    MetricType,
    Scope,
    SpanEvent,
    SpanKind,
    SpanLink,
    SpanRecord,
    StatusCode,
    TraceSummary,
)
from otelctx.storage.base import TraceDetail

DATA_TABLES = frozenset({"spans", "traces", "logs", "metric_points"})

# The time column retention purges each table by.
PURGE_TIME_COLUMN = {
    "spans": "start_time", "traces": "start_time", "logs": "timestamp", "metric_points": "time",
    "investigations": "created_at", "graph_snapshots": "created_at",
    "drain_templates": "last_seen", "dlq_replays": "stored_at",
}  # fmt: skip

# Tables whose ``id`` alone identifies a row (an integer the database assigns); the
# others are deleted by their primary key or the database's row address.
SURROGATE_ID_TABLES = frozenset({"spans", "logs", "metric_points"})


def purge_time_column(table: str) -> str:
    """The time column of a table retention purges; ValueError for anything else (never
    interpolate an unchecked name into SQL)."""
    try:
        return PURGE_TIME_COLUMN[table]
    except KeyError:
        raise ValueError(f"unknown table {table!r}") from None


def nearest_rank_offset(n: int, q: float = 0.99) -> int:
    """0-based index of the nearest-rank ``q`` quantile among ``n`` sorted values."""
    return max(0, math.ceil(q * n) - 1)


# what get_trace selects from ``traces``, in this order, for trace_detail()
TRACE_DETAIL_COLUMNS = (
    "root_service", "root_operation", "start_time", "end_time", "span_count", "error_count",
    "status_code",
)  # fmt: skip

SPAN_COLUMNS = (
    "tenant_id", "trace_id", "span_id", "parent_span_id", "service_name", "operation_name",
    "kind", "start_time", "end_time", "duration_ns", "status_code", "status_message",
    "trace_state", "attributes", "resource", "scope", "events", "links",
)  # fmt: skip

LOG_COLUMNS = (
    "tenant_id", "service_name", "timestamp", "observed_timestamp", "severity_number",
    "severity_text", "body", "body_is_json", "attributes", "resource", "scope", "trace_id",
    "span_id", "flags",
)  # fmt: skip

POINT_COLUMNS = (
    "tenant_id", "service_name", "name", "description", "unit", "metric_type", "time",
    "start_time", "value", "count", "sum", "min", "max", "data", "attributes", "resource",
    "scope", "temporality", "is_monotonic",
)  # fmt: skip

_dumps = orjson.dumps
_E = TypeVar("_E", SpanKind, StatusCode)


def _json(value: Any) -> str:
    return _dumps(value).decode()


def _scope_json(scope: Scope) -> str:
    return _json({"name": scope.name, "version": scope.version, "attributes": scope.attributes})


def _scope_of(text: str) -> Scope:
    d = orjson.loads(text)
    return Scope(
        name=d.get("name", ""), version=d.get("version", ""), attributes=d.get("attributes", {})
    )


class SharedJson:
    """JSON of the resource dicts and scopes that many records share, encoded once.

    Keyed by object identity, so an instance must not outlive the records it has seen
    (use one per write batch).
    """

    __slots__ = ("_resources", "_scopes")

    def __init__(self) -> None:
        self._resources: dict[int, tuple[Attributes, str]] = {}
        self._scopes: dict[int, tuple[Scope, str]] = {}

    def resource(self, resource: Attributes) -> str:
        hit = self._resources.get(id(resource))
        if hit is None:
            hit = self._resources[id(resource)] = (resource, _json(resource))
        return hit[1]

    def scope(self, scope: Scope) -> str:
        hit = self._scopes.get(id(scope))
        if hit is None:
            hit = self._scopes[id(scope)] = (scope, _scope_json(scope))
        return hit[1]


def span_row(s: SpanRecord, shared: SharedJson | None = None) -> tuple[Any, ...]:
    shared = shared or SharedJson()
    return (
        s.tenant_id, s.trace_id, s.span_id, s.parent_span_id, s.service_name, s.name,
        int(s.kind), s.start_time_unix_nano, s.end_time_unix_nano, s.duration_ns,
        int(s.status_code), s.status_message, s.trace_state,
        _json(s.attributes) if s.attributes else "{}",
        shared.resource(s.resource), shared.scope(s.scope),
        _json([[e.time_unix_nano, e.name, e.attributes] for e in s.events])
        if s.events else "[]",
        _json([[lk.trace_id, lk.span_id, lk.trace_state, lk.attributes] for lk in s.links])
        if s.links else "[]",
    )  # fmt: skip


def span_of(row: Sequence[Any]) -> SpanRecord:
    (
        tenant,
        trace_id,
        span_id,
        parent,
        service,
        name,
        kind,
        start,
        end,
        _duration,
        status,
        status_message,
        trace_state,
        attrs,
        resource,
        scope,
        events,
        links,
    ) = row
    return SpanRecord(
        tenant_id=tenant, trace_id=trace_id, span_id=span_id, parent_span_id=parent,
        service_name=service, name=name, kind=_enum(SpanKind, kind, SpanKind.UNSPECIFIED),
        start_time_unix_nano=int(start), end_time_unix_nano=int(end),
        status_code=_enum(StatusCode, status, StatusCode.UNSET), status_message=status_message,
        trace_state=trace_state, attributes=orjson.loads(attrs), resource=orjson.loads(resource),
        scope=_scope_of(scope),
        events=tuple(SpanEvent(t, n, a) for t, n, a in orjson.loads(events)),
        links=tuple(SpanLink(t, s, ts, a) for t, s, ts, a in orjson.loads(links)),
    )  # fmt: skip


def log_row(r: LogRecord, shared: SharedJson | None = None) -> tuple[Any, ...]:
    shared = shared or SharedJson()
    is_json = not isinstance(r.body, str)
    body = _json(r.body) if is_json else r.body
    return (
        r.tenant_id, r.service_name, r.time_unix_nano, r.observed_time_unix_nano,
        r.severity_number, r.severity_text, body, int(is_json),
        _json(r.attributes) if r.attributes else "{}", shared.resource(r.resource),
        shared.scope(r.scope), r.trace_id, r.span_id, r.flags,
    )  # fmt: skip


def log_of(row: Sequence[Any]) -> LogRecord:
    (
        tenant,
        service,
        ts,
        observed,
        sev_num,
        sev_text,
        body,
        body_is_json,
        attrs,
        resource,
        scope,
        trace_id,
        span_id,
        flags,
    ) = row
    return LogRecord(
        tenant_id=tenant, service_name=service, time_unix_nano=int(ts),
        observed_time_unix_nano=int(observed), severity_number=int(sev_num),
        severity_text=sev_text, body=orjson.loads(body) if body_is_json else body,
        attributes=orjson.loads(attrs), resource=orjson.loads(resource), scope=_scope_of(scope),
        trace_id=trace_id, span_id=span_id, flags=int(flags),
    )  # fmt: skip


def point_row(p: MetricPoint, shared: SharedJson | None = None) -> tuple[Any, ...]:
    shared = shared or SharedJson()
    return (
        p.tenant_id, p.service_name, p.name, p.description, p.unit, p.metric_type.value,
        p.time_unix_nano, p.start_time_unix_nano, p.value, p.count, p.sum, p.min, p.max,
        _json(p.data), _json(p.attributes), shared.resource(p.resource),
        shared.scope(p.scope), p.aggregation_temporality, int(p.is_monotonic),
    )  # fmt: skip


def point_of(row: Sequence[Any]) -> MetricPoint:
    (
        tenant,
        service,
        name,
        description,
        unit,
        metric_type,
        time,
        start,
        value,
        count,
        sum_,
        min_,
        max_,
        data,
        attrs,
        resource,
        scope,
        temporality,
        monotonic,
    ) = row
    return MetricPoint(
        tenant_id=tenant, service_name=service, name=name, description=description, unit=unit,
        metric_type=MetricType(metric_type), time_unix_nano=int(time),
        start_time_unix_nano=int(start), attributes=orjson.loads(attrs),
        resource=orjson.loads(resource), scope=_scope_of(scope), value=value, count=count,
        sum=sum_, min=min_, max=max_, data=orjson.loads(data),
        aggregation_temporality=int(temporality), is_monotonic=bool(monotonic),
    )  # fmt: skip


def _enum(cls: type[_E], value: int, default: _E) -> _E:
    try:
        return cls(int(value))
    except ValueError:
        return default


def trace_detail(
    tenant_id: str,
    trace_id: str,
    summary: Sequence[Any],
    span_rows: Iterable[Sequence[Any]],
    log_rows: Iterable[Sequence[Any]],
) -> TraceDetail:
    """A trace from its ``TRACE_DETAIL_COLUMNS`` row and its span and log rows."""
    root_service, root_operation, start, end, span_count, error_count, status = summary
    return TraceDetail(
        summary=TraceSummary(
            tenant_id=tenant_id, trace_id=trace_id, root_service=root_service,
            root_operation=root_operation, start_time_unix_nano=int(start),
            end_time_unix_nano=int(end), span_count=int(span_count),
            error_count=int(error_count), status_code=_enum(StatusCode, status, StatusCode.UNSET),
        ),
        spans=[span_of(r) for r in span_rows],
        logs=[log_of(r) for r in log_rows],
    )  # fmt: skip
