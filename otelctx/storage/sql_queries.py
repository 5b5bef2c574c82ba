"""SQL text and arguments of the query API's searches, per dialect: pure, no driver.

The conventions (``Dialect``, ``Sql``, ``Builder``) are here with the trace and log
searches; the aggregates (dashboard, service map, metrics, metadata, stats, purges) are
in ``sql_aggregates``.

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

from otelctx.model import StatusCode
from otelctx.storage.queries import MAX_PAGE, LogQuery, TraceQuery, TraceSort
from otelctx.storage.rows import LOG_COLUMNS

_I64_MAX = 2**63 - 1
_I64_MIN = -(2**63)
_MAX_OFFSET = 2**62
ERROR = int(StatusCode.ERROR)
ERROR_SEVERITY = 17  # SeverityNumber ERROR
# FTS5's trigram tokenizer matches nothing shorter than this
FTS_MIN_CHARS = 3

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


@dataclass(frozen=True, slots=True)
class Change(Sql):
    """A statement that changes rows (INSERT, UPDATE, DELETE): a plan run in a write
    transaction is sent ``[(rows affected,)]`` back for it instead of result rows."""


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

    def change(self, text: str) -> Change:
        return Change(text, tuple(self.args))


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


def total_with_page(q: TraceQuery) -> bool:
    """Whether the page carries the total: with attribute filters, matching spans means
    reading every span of the window (no index on attributes), so they are searched
    once (``count(*) OVER ()``) rather than once for the count and again for the page.
    Otherwise a count and a page that stops after ``limit`` rows cost less."""
    return bool(q.attributes)


def trace_search(d: Dialect, q: TraceQuery) -> tuple[Sql, Sql]:
    """(count, page): the page's rows are ``TRACE_ROW_COLUMNS``, followed by the total
    when ``total_with_page``."""
    count = Builder(d)
    count_sql = count.sql(f"SELECT count(*) FROM traces t WHERE {_trace_where(count, q)}")
    b = Builder(d)
    where = _trace_where(b, q)
    direction = "DESC" if q.descending else "ASC"
    key = "t.start_time"
    if q.sort is TraceSort.DURATION:
        key = "t.duration_ns"
        if d is Dialect.SQLITE and q.start_ns is None:
            # Without a window's start, the same order by class first: SQLite reads it from
            # its duration-class index (sqlite_schema.DURATION_CLASS). A window is read
            # from its covering (tenant, start, ..., duration) index and sorted; there the
            # class would cost a row lookup each, as a virtual column.
            key = f"t.duration_class {direction}, t.duration_ns"
    limit, offset = page_bounds(q.limit, q.offset)
    columns = ", ".join(f"t.{c}" for c in TRACE_ROW_COLUMNS)
    if total_with_page(q):
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
