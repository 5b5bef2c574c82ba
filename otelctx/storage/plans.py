"""The query API's reads as plans: pure generators shared by every backend.

A plan yields ``Sql`` statements, is sent back each statement's rows (a list of
sequences) and returns the result. It does no I/O of its own, so one plan serves the
SQLite backend (driven by ``drive`` on its reader thread) and the asyncio drivers
(``drive_async`` inside one trio→asyncio crossing): the logic of a query is written
once, and only the SQL text differs by dialect (``sql_queries``).

Cost bounds: every statement is tenant-scoped and served by an index on (tenant, ...);
pages are at most ``MAX_PAGE`` rows; histogram points read per metric request are
capped at ``METRIC_POINT_CAP``; the service map aggregates in the database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Sequence
from typing import Any, TypeVar

from otelctx.model import LogRecord
from otelctx.storage import results, rows
from otelctx.storage import sql_aggregates as agg
from otelctx.storage import sql_queries as q
from otelctx.storage.base import Percentile
from otelctx.storage.queries import (
    DashboardStats,
    LatencyPoint,
    LogQuery,
    MetricBucket,
    MetricQuery,
    Page,
    ServiceMap,
    StoreStats,
    TraceQuery,
    TraceRow,
    TrafficBucket,
)
from otelctx.storage.sql_queries import Dialect, Sql

T = TypeVar("T")
Rows = list[Sequence[Any]]
Plan = Generator[Sql, Rows, T]

# Spans in a service map's window above which it is computed from an even sample of
# about this many (the self-join costs ~3 µs a span on SQLite).
SERVICE_MAP_SPAN_CAP = 20_000
# Histogram and summary points read for one metric_buckets call: beyond it, the last
# bucket reached and the later ones get no percentiles (their counts stay exact).
METRIC_POINT_CAP = 100_000


def drive(plan: Plan[T], fetch: Callable[[Sql], Rows]) -> T:
    """Run ``plan`` with a synchronous ``fetch``."""
    try:
        statement = next(plan)
        while True:
            statement = plan.send(fetch(statement))
    except StopIteration as done:
        result: T = done.value
        return result


async def drive_async(plan: Plan[T], fetch: Callable[[Sql], Awaitable[Rows]]) -> T:
    """Run ``plan`` with an awaitable ``fetch`` (any event loop: no I/O here)."""
    try:
        statement = next(plan)
        while True:
            statement = plan.send(await fetch(statement))
    except StopIteration as done:
        result: T = done.value
        return result


def _scalar(found: Rows) -> Any:
    return found[0][0] if found else None


def search_traces(d: Dialect, query: TraceQuery) -> Plan[Page[TraceRow]]:
    count, page = q.trace_search(d, query)
    limit, offset = q.page_bounds(query.limit, query.offset)
    if q.total_with_page(query) and limit:
        # the page carries the total; only a page past the end needs the count
        found = yield page
        total = results.as_int(found[0][-1]) if found else None
        found = [r[:-1] for r in found]
    else:
        found, total = [], None
    if total is None:
        total = results.as_int(_scalar((yield count)))
        if limit and offset < total and not q.total_with_page(query):
            found = yield page
    items: list[TraceRow] = []
    if found:
        services = yield q.trace_services(d, query.tenant_id, [r[0] for r in found])
        items = results.trace_rows(query.tenant_id, found, services)
    return Page(items, total)


def search_logs(d: Dialect, query: LogQuery) -> Plan[Page[LogRecord]]:
    count, page = q.log_search(d, query)
    total = results.as_int(_scalar((yield count)))
    limit, offset = q.page_bounds(query.limit, query.offset)
    items: list[LogRecord] = []
    if limit and offset < total:
        items = [rows.log_of(r) for r in (yield page)]
    return Page(items, total)


def log_context(
    d: Dialect, tenant_id: str, time_ns: int, window_ns: int, limit: int
) -> Plan[list[LogRecord]]:
    before, after = q.log_context(d, tenant_id, time_ns, window_ns, limit)
    older = yield before
    newer = yield after
    return [rows.log_of(r) for r in reversed(older)] + [rows.log_of(r) for r in newer]


def metric_buckets(d: Dialect, query: MetricQuery) -> Plan[list[MetricBucket]]:
    aggregates = yield agg.metric_aggregates(d, query)
    distributions: Rows = []
    if any(r[1] in agg.DISTRIBUTION_TYPES for r in aggregates):
        distributions = yield agg.metric_distributions(d, query, METRIC_POINT_CAP + 1)
    capped = len(distributions) > METRIC_POINT_CAP
    return results.metric_buckets(
        aggregates, distributions[:METRIC_POINT_CAP], query.step_ns, capped=capped
    )


def list_services(d: Dialect, tenant_id: str) -> Plan[list[str]]:
    names: set[str] = set()
    for statement in agg.service_sources(d, tenant_id):
        names.update(r[0] for r in (yield statement))
    return sorted(names)


def list_metric_names(d: Dialect, tenant_id: str, service: str | None) -> Plan[list[str]]:
    found = yield agg.distinct_values(d, "metric_points", "name", tenant_id, service)
    return sorted(r[0] for r in found)


def traffic(
    d: Dialect, tenant_id: str, start: int, end: int, step: int, services: Sequence[str]
) -> Plan[list[TrafficBucket]]:
    found = yield agg.traffic(d, tenant_id, start, end, step, services)
    return results.traffic(found, step)


def latency_points(
    d: Dialect, tenant_id: str, start: int, end: int, services: Sequence[str], limit: int
) -> Plan[list[LatencyPoint]]:
    return results.latency_points((yield agg.latency_points(d, tenant_id, start, end, services,
                                                          limit)))  # fmt: skip


def dashboard(
    d: Dialect, tenant_id: str, start: int, end: int, services: Sequence[str]
) -> Plan[DashboardStats]:
    per_service, logs = agg.dashboard(d, tenant_id, start, end, services)
    groups = yield per_service
    return results.dashboard(groups, (yield logs)[0])


def service_map(d: Dialect, tenant_id: str, start: int, end: int) -> Plan[ServiceMap]:
    """Exact up to ``SERVICE_MAP_SPAN_CAP`` spans in the window; above it, from an even
    sample of about that many spans, counts scaled up to the window (see ServiceMap)."""
    n = results.as_int(_scalar((yield agg.span_count(d, tenant_id, start, end))))
    if n <= SERVICE_MAP_SPAN_CAP:
        return results.service_map((yield agg.service_map(d, tenant_id, start, end)))
    below = max(1, agg.SAMPLE_SPACE * SERVICE_MAP_SPAN_CAP // n)
    pairs = yield agg.service_map(d, tenant_id, start, end, below)
    sampled = sum(results.as_int(r[2]) for r in pairs)
    return results.service_map(pairs, n / sampled if sampled else 1.0)


def stats(d: Dialect, tenant_id: str) -> Plan[StoreStats]:
    spans, traces, logs, points = agg.stats(d, tenant_id)
    n = results.as_int
    n_spans = n(_scalar((yield spans)))
    n_traces, n_error_traces = (yield traces)[0]
    n_logs, n_error_logs = (yield logs)[0]
    n_points = n(_scalar((yield points)))
    services = yield from list_services(d, tenant_id)
    size = n(_scalar((yield agg.DB_SIZE[d])))
    return StoreStats(
        spans=n_spans, traces=n(n_traces), error_traces=n(n_error_traces), logs=n(n_logs),
        error_logs=n(n_error_logs), metric_points=n_points, services=len(services),
        db_size_bytes=size,
    )  # fmt: skip


def p99_duration(
    d: Dialect,
    tenant_id: str,
    start: int,
    end: int,
    services: Sequence[str],
    row_cap: int,
) -> Plan[Percentile]:
    """Nearest-rank p99 of trace durations (see ``base.Percentile`` for the methods)."""
    if d is Dialect.POSTGRES:
        value, n = (yield agg.traces_in_window(
            d, "percentile_disc(0.99) WITHIN GROUP (ORDER BY duration_ns), count(*)",
            tenant_id, start, end, services,
        ))[0]  # fmt: skip
        return Percentile(None if value is None else int(value), "percentile_disc", int(n))
    n = results.as_int(_scalar((yield agg.traces_in_window(d, "count(*)", tenant_id, start, end,
                                                       services))))  # fmt: skip
    method = "offset" if d is Dialect.MYSQL else "exact"
    if n == 0:
        return Percentile(None, method, 0)
    if d is Dialect.MYSQL or n <= row_cap:
        found = yield agg.p99_offset(d, tenant_id, start, end, services,
                                   rows.nearest_rank_offset(n))  # fmt: skip
        return Percentile(int(found[0][0]), method, n) if found else Percentile(None, method, n)
    # SQLite above the cap: a uniform sample of about row_cap traces keeps the cost
    # bounded without the original's bias (it kept the first, i.e. smallest, rows).
    sample = sorted(int(r[0]) for r in (yield agg.p99_sample(tenant_id, start, end, services,
                                                           n, row_cap)))  # fmt: skip
    if not sample:
        return Percentile(None, "sample", n)
    return Percentile(sample[rows.nearest_rank_offset(len(sample))], "sample", n)
