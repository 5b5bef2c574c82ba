"""SQL text and arguments of the query API, per dialect: pure, no driver.

Each builder returns ``Sql`` (text plus positional arguments in the dialect's
placeholder style: ``?`` SQLite, ``$n`` PostgreSQL, ``%s`` MySQL). Every value from a
query is bound, never interpolated: the only text put into SQL is this module's own
(column and table names from fixed lists). Every statement is scoped to one tenant.

Dialect differences handled here:

- placeholders, and a list of values: ``IN (?, ?)`` or ``= ANY($n::text[])``;
- integer division for time buckets (``/`` or ``DIV``), and quoted column names that are
  keywords (``timestamp``, ``time``, ``count``, ``sum``, ``min``, ``max``);
- case-insensitive substring search of log bodies: SQLite's FTS5 trigram table
  ``logs_fts`` for three characters or more, ``instr(lower(body), lower(?))`` below
  (both fold ASCII case only); PostgreSQL ``ILIKE`` (served by the pg_trgm index when it
  exists); MySQL ``LOWER(body) LIKE LOWER(?)``; ``!`` escapes ``%`` and ``_`` in LIKE
  patterns;
- attribute equality (see ``queries``): SQLite compares ``attributes -> '$."key"'`` with
  the value's JSON text (``json_each`` for a key that JSON escapes), PostgreSQL
  ``attributes::json ->> key``, MySQL ``JSON_UNQUOTE(JSON_EXTRACT(attributes,
  '$."key"'))`` with the key escaped as a JSON string. For numbers each compares the
  JSON text as stored.

Limits and offsets are clamped to ``[0, MAX_PAGE]`` and ``[0, 2**62]``, times and steps
to the 64-bit range, whatever the caller passes.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from otelctx.model import MetricType, StatusCode
from otelctx.storage.queries import MAX_PAGE, LogQuery, MetricQuery, TraceQuery, TraceSort
from otelctx.storage.rows import LOG_COLUMNS, purge_time_column

_I64_MAX = 2**63 - 1
_I64_MIN = -(2**63)
_MAX_OFFSET = 2**62
ERROR = int(StatusCode.ERROR)
ERROR_SEVERITY = 17  # SeverityNumber ERROR
# FTS5's trigram tokenizer matches nothing shorter than this
FTS_MIN_CHARS = 3
DISTRIBUTION_TYPES = tuple(
    t.value for t in (MetricType.HISTOGRAM, MetricType.EXPONENTIAL_HISTOGRAM, MetricType.SUMMARY)
)

TRACE_ROW_COLUMNS = (
    "trace_id", "root_service", "root_operation", "start_time", "end_time", "span_count",
    "error_count", "status_code",
)  # fmt: skip


class Dialect(enum.Enum):
    SQLITE = "sqlite"
    POSTGRES = "postgres"
    MYSQL = "mysql"


@dataclass(frozen=True, slots=True)
class Sql:
    text: str
    args: tuple[Any, ...] = ()


def i64(value: int) -> int:
    return max(_I64_MIN, min(_I64_MAX, int(value)))


def page_bounds(limit: int, offset: int) -> tuple[int, int]:
    return max(0, min(MAX_PAGE, int(limit))), max(0, min(_MAX_OFFSET, int(offset)))


def like_pattern(text: str) -> str:
    """``%text%`` with ``!``, ``%`` and ``_`` escaped by ``!``."""
    escaped = text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


def fts_phrase(text: str) -> str:
    """``text`` as one FTS5 phrase: every character literal."""
    return '"' + text.replace('"', '""') + '"'


def _no_nul(value: Any) -> Any:
    """PostgreSQL text holds no NUL: stored text has U+FFFD in its place, so look for that."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_no_nul(v) for v in value]
    return value


class Builder:
    """Collects arguments and hands out placeholders for one statement."""

    def __init__(self, dialect: Dialect) -> None:
        self.d = dialect
        self.args: list[Any] = []

    def p(self, value: Any) -> str:
        if self.d is Dialect.POSTGRES:
            value = _no_nul(value)
        self.args.append(value)
        if self.d is Dialect.POSTGRES:
            return f"${len(self.args)}"
        return "%s" if self.d is Dialect.MYSQL else "?"

    def col(self, name: str) -> str:
        """A column name that is a keyword somewhere, quoted."""
        return f"`{name}`" if self.d is Dialect.MYSQL else f'"{name}"'

    def one_of(self, column: str, values: Sequence[str]) -> str:
        if self.d is Dialect.POSTGRES:
            return f"{column} = ANY({self.p(list(values))}::text[])"
        return f"{column} IN ({', '.join(self.p(v) for v in values)})"

    def div(self, column: str, step: int) -> str:
        op = "DIV" if self.d is Dialect.MYSQL else "/"
        return f"{column} {op} {self.p(max(1, i64(step)))}"

    def window(self, column: str, start: int | None, end: int | None) -> list[str]:
        out = []
        if start is not None:
            out.append(f"{column} >= {self.p(i64(start))}")
        if end is not None:
            out.append(f"{column} < {self.p(i64(end))}")
        return out

    def attribute_equals(self, column: str, key: str, value: str) -> str:
        if self.d is Dialect.POSTGRES:
            return f"({column}::json ->> {self.p(key)}::text) = {self.p(value)}"
        if self.d is Dialect.MYSQL:
            path = '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
            return f"JSON_UNQUOTE(JSON_EXTRACT({column}, {self.p(path)})) = {self.p(value)}"
        if not any(c in '"\\' or c < " " for c in key):
            # ``->`` gives the value's JSON text as stored (orjson's): a string matches in
            # its JSON form, a number or boolean as it is. One lookup a row, about half
            # the cost of json_each. (Not "null": PostgreSQL's ->> gives NULL for it.)
            path = f'$."{key}"'
            forms = [orjson.dumps(value).decode()] + ([value] if value != "null" else [])
            return f"({column} -> {self.p(path)}) IN ({', '.join(self.p(f) for f in forms)})"
        # A key with '"' has no path in SQLite, and one that JSON escapes ('\\', control
        # characters) is compared escaped: walk the object instead. j.atom is the SQL value
        # (1 for true, 1e+20 as a REAL): for anything but a string take the element's
        # JSON text (``->`` with its full path)
        return (
            f"EXISTS (SELECT 1 FROM json_each({column}) j WHERE j.key = {self.p(key)} AND "
            "(CASE j.type WHEN 'text' THEN j.atom WHEN 'null' THEN NULL ELSE "
            f"coalesce({column} -> j.fullkey, CAST(j.value AS TEXT)) END) = {self.p(value)})"
        )

    def body_contains(self, text: str) -> str:
        if self.d is Dialect.POSTGRES:
            return f"l.body ILIKE {self.p(like_pattern(text))} ESCAPE '!'"
        if self.d is Dialect.MYSQL:
            return f"LOWER(l.body) LIKE LOWER({self.p(like_pattern(text))}) ESCAPE '!'"
        if len(text) >= FTS_MIN_CHARS and "\x00" not in text:  # FTS5 queries end at a NUL
            return (
                "l.id IN (SELECT rowid FROM logs_fts WHERE logs_fts MATCH "
                f"{self.p(fts_phrase(text))})"
            )
        # instr, not LIKE: LIKE would read a pattern only up to a NUL
        return f"instr(lower(l.body), lower({self.p(text)})) > 0"

    def sql(self, text: str) -> Sql:
        return Sql(text, tuple(self.args))


# -- traces -----------------------------------------------------------------------------------


def _trace_where(b: Builder, q: TraceQuery) -> str:
    conds = [f"t.tenant_id = {b.p(q.tenant_id)}", *b.window("t.start_time", q.start_ns, q.end_ns)]
    if q.status is not None:
        conds.append(f"t.status_code = {b.p(int(q.status))}")
    if q.min_duration_ns is not None:
        conds.append(f"t.duration_ns >= {b.p(i64(q.min_duration_ns))}")
    if q.max_duration_ns is not None:
        conds.append(f"t.duration_ns <= {b.p(i64(q.max_duration_ns))}")
    if q.services or q.operation is not None or q.attributes:
        # One span must meet them all. Its start is never before its trace's start, so
        # the window's start narrows the spans too (the tenant+service+start index).
        sub = [f"s.tenant_id = {b.p(q.tenant_id)}", *b.window("s.start_time", q.start_ns, None)]
        if q.services:
            sub.append(b.one_of("s.service_name", q.services))
        if q.operation is not None:
            sub.append(f"s.operation_name = {b.p(q.operation)}")
        for key, value in q.attributes:
            sub.append(b.attribute_equals("s.attributes", key, value))
        conds.append(f"t.trace_id IN (SELECT s.trace_id FROM spans s WHERE {' AND '.join(sub)})")
    return " AND ".join(conds)


def has_span_filters(q: TraceQuery) -> bool:
    return bool(q.services or q.operation is not None or q.attributes)


def trace_search(d: Dialect, q: TraceQuery) -> tuple[Sql, Sql]:
    """(count, page): the page's rows are ``TRACE_ROW_COLUMNS``; with span-level filters,
    followed by the total (``count(*) OVER ()``), so that the spans are searched once,
    not once for the count and again for the page."""
    count = Builder(d)
    count_sql = count.sql(f"SELECT count(*) FROM traces t WHERE {_trace_where(count, q)}")
    b = Builder(d)
    where = _trace_where(b, q)
    key = "t.duration_ns" if q.sort is TraceSort.DURATION else "t.start_time"
    direction = "DESC" if q.descending else "ASC"
    limit, offset = page_bounds(q.limit, q.offset)
    columns = ", ".join(f"t.{c}" for c in TRACE_ROW_COLUMNS)
    if has_span_filters(q):
        columns += ", count(*) OVER ()"
    page = b.sql(
        f"SELECT {columns} FROM traces t WHERE {where} "
        f"ORDER BY {key} {direction}, t.trace_id {direction} "
        f"LIMIT {b.p(limit)} OFFSET {b.p(offset)}"
    )
    return count_sql, page


def trace_services(d: Dialect, tenant_id: str, trace_ids: Sequence[str]) -> Sql:
    """(trace_id, service_name) pairs of the given traces."""
    b = Builder(d)
    return b.sql(
        "SELECT DISTINCT trace_id, service_name FROM spans "
        f"WHERE tenant_id = {b.p(tenant_id)} AND {b.one_of('trace_id', trace_ids)}"
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


# -- logs -------------------------------------------------------------------------------------


def _log_where(b: Builder, q: LogQuery) -> str:
    conds = [f"l.tenant_id = {b.p(q.tenant_id)}", *b.window(f"l.{b.col('timestamp')}",
                                                            q.start_ns, q.end_ns)]  # fmt: skip
    if q.services:
        conds.append(b.one_of("l.service_name", q.services))
    if q.min_severity is not None:
        conds.append(f"l.severity_number >= {b.p(i64(q.min_severity))}")
    if q.trace_id is not None:
        conds.append(f"l.trace_id = {b.p(q.trace_id)}")
    if q.search:
        conds.append(b.body_contains(q.search))
    return " AND ".join(conds)


def log_columns(d: Dialect, alias: str = "l") -> str:
    b = Builder(d)
    return ", ".join(f"{alias}.{b.col(c) if c == 'timestamp' else c}" for c in LOG_COLUMNS)


def log_search(d: Dialect, q: LogQuery) -> tuple[Sql, Sql]:
    """(count, page): the page's rows are ``rows.LOG_COLUMNS``."""
    count = Builder(d)
    count_sql = count.sql(f"SELECT count(*) FROM logs l WHERE {_log_where(count, q)}")
    b = Builder(d)
    where = _log_where(b, q)
    direction = "DESC" if q.descending else "ASC"
    limit, offset = page_bounds(q.limit, q.offset)
    order = f"l.{b.col('timestamp')}"
    if d is Dialect.SQLITE and q.trace_id is not None:
        # a trace's few logs come from the (tenant, trace) index; left to itself SQLite
        # would rather walk the tenant's logs in time order to skip a small sort
        order = "+" + order
    page = b.sql(
        f"SELECT {log_columns(d)} FROM logs l WHERE {where} "
        f"ORDER BY {order} {direction}, l.id {direction} "
        f"LIMIT {b.p(limit)} OFFSET {b.p(offset)}"
    )
    return count_sql, page


def log_context(
    d: Dialect, tenant_id: str, time_ns: int, window_ns: int, limit: int
) -> tuple[Sql, Sql]:
    """(before, from): the nearest ``limit`` logs before ``time_ns`` (newest first) and
    the first ``limit`` from it on, both within the window."""
    time_ns, window_ns = i64(time_ns), max(0, i64(window_ns))
    lo, hi = i64(time_ns - window_ns), i64(time_ns + window_ns)
    limit = page_bounds(limit, 0)[0]
    out = []
    for cond, order in (("<", "DESC"), (">=", "ASC")):
        b = Builder(d)
        ts = f"l.{b.col('timestamp')}"
        # placeholders are handed out in the order they appear in the text
        where = f"l.tenant_id = {b.p(tenant_id)} AND "
        where += f"{ts} >= {b.p(lo)}" if cond == "<" else f"{ts} <= {b.p(hi)}"
        out.append(b.sql(
            f"SELECT {log_columns(d)} FROM logs l WHERE {where} AND {ts} {cond} {b.p(time_ns)} "
            f"ORDER BY {ts} {order}, l.id {order} LIMIT {b.p(limit)}"
        ))  # fmt: skip
    return out[0], out[1]


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
    column = purge_time_column(table)  # ValueError for anything but a data table
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
