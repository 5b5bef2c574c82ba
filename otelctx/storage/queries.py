"""What the query API asks of storage, and what it gets back: pure data, no SQL.

Every query is scoped to one tenant. Times are unix nanoseconds; a window is
``[start_ns, end_ns)`` and either bound may be None (open). Lists are never None.

Matching rules shared by every backend (the contract tests pin them):

- Trace search: *span-level* filters (``services``, ``operation``, ``attributes``) must
  all hold on one and the same span of the trace; *trace-level* filters (``status``,
  durations, the window on the trace's start) hold on the trace summary.
- Attribute equality compares the span attribute's value as text: strings as they are,
  numbers in their JSON form (``500``, ``0.5``), booleans ``true``/``false``.
- Log search: ``search`` is a case-insensitive substring of the body (for JSON bodies,
  of their JSON text); ``min_severity`` keeps records with ``severity_number`` at or
  above it.
- Dashboard, traffic and heatmap filter ``services`` on the trace's root service.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from otelctx.model import LogRecord, StatusCode, TraceSummary

T = TypeVar("T")

MAX_PAGE = 1000


class TraceSort(enum.Enum):
    START_TIME = "start_time"
    DURATION = "duration"


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int


@dataclass(frozen=True, slots=True)
class TraceQuery:
    tenant_id: str
    services: tuple[str, ...] = ()
    operation: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    status: StatusCode | None = None
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    sort: TraceSort = TraceSort.START_TIME
    descending: bool = True
    limit: int = 20
    offset: int = 0


@dataclass(frozen=True, slots=True)
class TraceRow:
    """A trace summary with the services its spans belong to (sorted)."""

    summary: TraceSummary
    services: list[str]


@dataclass(frozen=True, slots=True)
class LogQuery:
    tenant_id: str
    services: tuple[str, ...] = ()
    min_severity: int | None = None
    search: str | None = None
    trace_id: str | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    limit: int = 50
    offset: int = 0
    # newest first by default; ties broken by insertion order so pages are stable
    descending: bool = True


@dataclass(frozen=True, slots=True)
class MetricQuery:
    tenant_id: str
    name: str
    service: str | None
    start_ns: int
    end_ns: int
    step_ns: int


@dataclass(frozen=True, slots=True)
class MetricBucket:
    """Points of one metric in ``[time_ns, time_ns + step)``.

    Gauges and sums aggregate ``value``: min, max, sum and count of the points.
    Histograms (explicit and exponential) and summaries add up the points' counts and
    sums, take the extreme min/max, and estimate p50/p95/p99 from the merged buckets
    (summaries: from their reported quantiles); None where it cannot be known.
    """

    time_ns: int
    min: float | None
    max: float | None
    sum: float
    count: int
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


@dataclass(frozen=True, slots=True)
class TrafficBucket:
    time_ns: int
    count: int
    error_count: int


@dataclass(frozen=True, slots=True)
class LatencyPoint:
    time_ns: int
    duration_ns: int
    trace_id: str
    is_error: bool


@dataclass(frozen=True, slots=True)
class FailingService:
    service_name: str
    error_count: int
    total_count: int


@dataclass(frozen=True, slots=True)
class DashboardStats:
    total_traces: int
    total_logs: int
    total_errors: int  # traces whose status is ERROR
    avg_duration_ns: float | None
    active_services: int  # distinct root services of the window's traces
    top_failing: list[FailingService] = field(default_factory=list)  # at most 5, worst first


@dataclass(frozen=True, slots=True)
class ServiceNode:
    name: str
    span_count: int
    error_count: int
    avg_duration_ns: float


@dataclass(frozen=True, slots=True)
class ServiceEdge:
    source: str  # the parent span's service
    target: str  # the child span's service
    call_count: int
    error_count: int  # child spans with status ERROR
    avg_duration_ns: float  # of the child spans


@dataclass(frozen=True, slots=True)
class ServiceMap:
    """``sample_rate``: the fraction of the window's spans the figures come from. 1.0:
    exact. Below 1 (a window with more spans than the backends' cap), an even sample of
    spans was aggregated and the counts are scaled up to the whole window: estimates, and
    an edge much rarer than one call in 1/sample_rate spans may be missing."""

    nodes: list[ServiceNode]
    edges: list[ServiceEdge]
    sample_rate: float = 1.0


@dataclass(frozen=True, slots=True)
class StoreStats:
    spans: int
    traces: int
    error_traces: int
    logs: int
    error_logs: int  # severity_number >= 17 (ERROR)
    metric_points: int
    services: int  # distinct service names over spans, logs and metric points
    db_size_bytes: int  # the database's size on disk (whole database, all tenants)


@dataclass(frozen=True, slots=True)
class PurgeCounts:
    spans: int
    traces: int
    logs: int
    metric_points: int


__all__ = [
    "MAX_PAGE",
    "DashboardStats",
    "FailingService",
    "LatencyPoint",
    "LogQuery",
    "LogRecord",
    "MetricBucket",
    "MetricQuery",
    "Page",
    "PurgeCounts",
    "ServiceEdge",
    "ServiceMap",
    "ServiceNode",
    "StoreStats",
    "TraceQuery",
    "TraceRow",
    "TraceSort",
    "TrafficBucket",
]
