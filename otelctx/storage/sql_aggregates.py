"""SQL of the query API's aggregates, per dialect: pure, no driver.

Windows of traces (traffic, latency points, dashboard, p99), the service map, metric
buckets, metadata, stats and tenant purges. Same conventions as ``sql_queries``: every
value bound through a ``Builder``, every statement scoped to one tenant, placeholders
handed out in the order they appear in the text.
"""

from __future__ import annotations

from collections.abc import Sequence

from otelctx.model import MetricType
from otelctx.storage.queries import MetricQuery
from otelctx.storage.rows import DATA_TABLES, purge_time_column
from otelctx.storage.sql_queries import (
    ERROR,
    ERROR_SEVERITY,
    Builder,
    Dialect,
    Sql,
    i64,
)

DISTRIBUTION_TYPES = tuple(
    t.value for t in (MetricType.HISTOGRAM, MetricType.EXPONENTIAL_HISTOGRAM, MetricType.SUMMARY)
)


def _root_window(b: Builder, tenant_id: str, start: int, end: int, services: Sequence[str]) -> str:
    conds = [f"tenant_id = {b.p(tenant_id)}", *b.window("start_time", start, end)]
    if services:
        conds.append(b.one_of("root_service", services))
    return " AND ".join(conds)


def traces_in_window(
    d: Dialect, select: str, tenant_id: str, start: int, end: int, services: Sequence[str],
    tail: str = "",
) -> Sql:  # fmt: skip
    """``SELECT <select> FROM traces WHERE <tenant, window, root services> <tail>``;
    ``select`` and ``tail`` are this package's text, never a caller's value."""
    b = Builder(d)
    where = _root_window(b, tenant_id, start, end, services)
    return b.sql(f"SELECT {select} FROM traces WHERE {where} {tail}".rstrip())


def p99_offset(
    d: Dialect, tenant_id: str, start: int, end: int, services: Sequence[str], offset: int
) -> Sql:
    b = Builder(d)
    where = _root_window(b, tenant_id, start, end, services)
    return b.sql(
        f"SELECT duration_ns FROM traces WHERE {where} ORDER BY duration_ns "
        f"LIMIT 1 OFFSET {b.p(max(0, offset))}"
    )


def p99_sample(
    tenant_id: str, start: int, end: int, services: Sequence[str], n: int, row_cap: int
) -> Sql:
    """SQLite: durations of a uniform random sample of about ``row_cap`` of ``n`` traces."""
    b = Builder(Dialect.SQLITE)
    where = _root_window(b, tenant_id, start, end, services)
    return b.sql(
        f"SELECT duration_ns FROM traces WHERE {where} "
        f"AND abs(random()) % {b.p(n)} < {b.p(row_cap)}"
    )


def traffic(
    d: Dialect, tenant_id: str, start: int, end: int, step: int, services: Sequence[str]
) -> Sql:
    """(bucket number, traces, errors) per step, oldest first."""
    b = Builder(d)
    bucket = b.div("start_time", step)
    where = _root_window(b, tenant_id, start, end, services)
    return b.sql(
        f"SELECT {bucket}, count(*), sum(CASE WHEN status_code = {ERROR} THEN 1 ELSE 0 END) "
        f"FROM traces WHERE {where} GROUP BY 1 ORDER BY 1"
    )


def latency_points(
    d: Dialect, tenant_id: str, start: int, end: int, services: Sequence[str], limit: int
) -> Sql:
    b = Builder(d)
    where = _root_window(b, tenant_id, start, end, services)
    return b.sql(
        f"SELECT start_time, duration_ns, trace_id, status_code FROM traces WHERE {where} "
        f"ORDER BY start_time DESC, trace_id DESC LIMIT {b.p(max(0, i64(limit)))}"
    )


def dashboard(
    d: Dialect, tenant_id: str, start: int, end: int, services: Sequence[str]
) -> tuple[Sql, Sql]:
    """(per root service: traces, errors, duration sum; log count). One pass over the
    window's traces: the totals, the active services and the top failing services all
    come from the per-service rows (a few hundred at most)."""
    per_service = traces_in_window(
        d,
        f"root_service, count(*), sum(CASE WHEN status_code = {ERROR} THEN 1 ELSE 0 END), "
        "sum(duration_ns)",
        tenant_id, start, end, services, "GROUP BY root_service",
    )  # fmt: skip
    b = Builder(d)
    conds = [f"tenant_id = {b.p(tenant_id)}", *b.window(b.col("timestamp"), start, end)]
    if services:
        conds.append(b.one_of("service_name", services))
    logs = b.sql(f"SELECT count(*) FROM logs WHERE {' AND '.join(conds)}")
    return per_service, logs


# Span sampling of the service map: a span is in the sample when (id * _SAMPLE_STRIDE)
# mod _SAMPLE_SPACE is below a threshold. Consecutive ids step through the space by an
# odd, golden-ratio-like stride (a Weyl sequence), so a sample is spread evenly over any
# run of ids, also one with a periodic pattern (every 10th span a root ...), and the
# test needs only the id, which the (tenant, start) index holds: the rows left out are
# never read.
SAMPLE_SPACE = 65536
_SAMPLE_STRIDE = 40503


def span_count(d: Dialect, tenant_id: str, start: int, end: int) -> Sql:
    b = Builder(d)
    where = " AND ".join([f"tenant_id = {b.p(tenant_id)}", *b.window("start_time", start, end)])
    return b.sql(f"SELECT count(*) FROM spans WHERE {where}")


def service_map(
    d: Dialect, tenant_id: str, start: int, end: int, sample_below: int | None = None
) -> Sql:
    """(service, parent span's service or NULL, spans, errors, duration sum) of the spans
    started in the window: nodes and edges both come from these few rows (one pass over
    the spans, each joined to its parent). With ``sample_below``, only the spans whose id
    hashes below it (out of ``SAMPLE_SPACE``)."""
    b = Builder(d)
    conds = [f"c.tenant_id = {b.p(tenant_id)}", *b.window("c.start_time", start, end)]
    if sample_below is not None:
        hashed = f"c.id * {_SAMPLE_STRIDE}"
        hashed = (f"MOD({hashed}, {SAMPLE_SPACE})" if d is Dialect.MYSQL
                  else f"({hashed}) % {SAMPLE_SPACE}")  # fmt: skip
        conds.append(f"{hashed} < {b.p(sample_below)}")
    return b.sql(
        "SELECT c.service_name, p.service_name, count(*), "
        f"sum(CASE WHEN c.status_code = {ERROR} THEN 1 ELSE 0 END), sum(c.duration_ns) "
        "FROM spans c LEFT JOIN spans p ON c.parent_span_id <> '' "
        "AND p.tenant_id = c.tenant_id AND p.trace_id = c.trace_id "
        f"AND p.span_id = c.parent_span_id WHERE {' AND '.join(conds)} GROUP BY 1, 2"
    )


# -- metrics ----------------------------------------------------------------------------------


def _metric_where(b: Builder, q: MetricQuery) -> str:
    conds = [f"tenant_id = {b.p(q.tenant_id)}", f"name = {b.p(q.name)}"]
    if q.service is not None:
        conds.append(f"service_name = {b.p(q.service)}")
    conds += b.window(b.col("time"), q.start_ns, q.end_ns)
    return " AND ".join(conds)


def metric_aggregates(d: Dialect, q: MetricQuery) -> Sql:
    """Per (bucket number, metric type): min, max, sum and count of ``value``, then sum
    of ``count``, sum of ``sum``, min of ``min``, max of ``max``."""
    b = Builder(d)
    c = b.col
    bucket = b.div(c("time"), q.step_ns)
    where = _metric_where(b, q)
    return b.sql(
        f"SELECT {bucket}, metric_type, min(value), max(value), sum(value), count(value), "
        f"sum({c('count')}), sum({c('sum')}), min({c('min')}), max({c('max')}) "
        f"FROM metric_points WHERE {where} GROUP BY 1, 2 ORDER BY 1"
    )


def metric_distributions(d: Dialect, q: MetricQuery, limit: int) -> Sql:
    """(time, metric_type, data, min, max) of the histogram and summary points, oldest
    first, at most ``limit``."""
    b = Builder(d)
    c = b.col
    where = _metric_where(b, q)
    return b.sql(
        f"SELECT {c('time')}, metric_type, data, {c('min')}, {c('max')} FROM metric_points "
        f"WHERE {where} AND {b.one_of('metric_type', DISTRIBUTION_TYPES)} "
        f"ORDER BY {c('time')}, id LIMIT {b.p(limit)}"
    )


# -- metadata, stats, purge -------------------------------------------------------------------


def distinct_values(
    d: Dialect, table: str, column: str, tenant_id: str, service: str | None = None
) -> Sql:
    """The distinct ``column`` values of a tenant's rows (optionally of one service).

    MySQL reads them with a loose index scan by itself; SQLite and PostgreSQL do not,
    so there a recursive query jumps from one value to the next through the index:
    one index probe per distinct value instead of a scan of every row.
    """
    b = Builder(d)

    def where() -> str:
        conds = [f"tenant_id = {b.p(tenant_id)}"]
        if service is not None:
            conds.append(f"service_name = {b.p(service)}")
        return " AND ".join(conds)

    if d is Dialect.MYSQL:
        return b.sql(f"SELECT DISTINCT {column} FROM {table} WHERE {where()} ORDER BY 1")
    first = f"SELECT min({column}) FROM {table} WHERE {where()}"
    following = f"SELECT min({column}) FROM {table} WHERE {where()} AND {column} > v.x"
    return b.sql(
        f"WITH RECURSIVE v(x) AS ({first} UNION ALL SELECT ({following}) FROM v "
        "WHERE v.x IS NOT NULL) SELECT x FROM v WHERE x IS NOT NULL"
    )


def service_sources(d: Dialect, tenant_id: str) -> list[Sql]:
    return [distinct_values(d, t, "service_name", tenant_id)
            for t in ("spans", "logs", "metric_points")]  # fmt: skip


def stats(d: Dialect, tenant_id: str) -> list[Sql]:
    """Counts of spans; traces and error traces; logs and error logs; metric points."""
    out = []
    for table, extra in (
        ("spans", ""),
        ("traces", f", sum(CASE WHEN status_code = {ERROR} THEN 1 ELSE 0 END)"),
        ("logs", f", sum(CASE WHEN severity_number >= {ERROR_SEVERITY} THEN 1 ELSE 0 END)"),
        ("metric_points", ""),
    ):
        b = Builder(d)
        out.append(b.sql(f"SELECT count(*){extra} FROM {table} WHERE tenant_id = {b.p(tenant_id)}"))
    return out


DB_SIZE = {
    Dialect.SQLITE: Sql(
        "SELECT p.page_count * s.page_size FROM pragma_page_count() p, pragma_page_size() s"
    ),
    Dialect.POSTGRES: Sql("SELECT pg_database_size(current_database())"),
    Dialect.MYSQL: Sql(
        "SELECT coalesce(sum(data_length + index_length), 0) FROM information_schema.TABLES "
        "WHERE table_schema = DATABASE()"
    ),
}

PURGE_TABLES = ("spans", "traces", "logs", "metric_points")


def purge_tenant_batch(d: Dialect, table: str, tenant_id: str, cutoff_ns: int, limit: int) -> Sql:
    """Delete up to ``limit`` of the tenant's rows of ``table`` older than the cutoff."""
    if table not in DATA_TABLES:
        raise ValueError(f"unknown table {table!r}")
    column = purge_time_column(table)
    b = Builder(d)
    col = b.col(column)
    if d is Dialect.MYSQL:  # a single-table DELETE takes LIMIT; no LIMIT in IN (subquery)
        return b.sql(
            f"DELETE FROM {table} WHERE tenant_id = {b.p(tenant_id)} AND {col} < "
            f"{b.p(i64(cutoff_ns))} LIMIT {b.p(max(1, limit))}"
        )
    if d is Dialect.POSTGRES:
        key = "ctid" if table == "traces" else "id"  # traces has no surrogate id
    else:
        key = "trace_id" if table == "traces" else "id"
    # (placeholders in the order they appear in the text)
    head = f"DELETE FROM {table} WHERE "
    if table == "traces" and d is Dialect.SQLITE:
        head += f"tenant_id = {b.p(tenant_id)} AND "
    inner = (
        f"SELECT {key} FROM {table} WHERE tenant_id = {b.p(tenant_id)} "
        f"AND {col} < {b.p(i64(cutoff_ns))} LIMIT {b.p(max(1, limit))}"
    )
    if d is Dialect.POSTGRES:
        return b.sql(f"{head}{key} = ANY(ARRAY({inner}))")
    return b.sql(f"{head}{key} IN ({inner})")
