"""The graph's persistence (``otelctx.graph.persist.GraphPersistence``) in SQL, once for
every backend.

The statements are built per dialect with ``sql_queries.Builder`` (every value bound)
and run as plans (``storage.plans``): reads in the backend's read path, writes in one
transaction each through ``PlanRunner.write_plan``, which answers a ``Change`` with
``[(rows affected,)]``. Row conversions are ``otelctx.graph.rows``. Pure: no driver, no
event loop; :class:`SqlGraphPersistence` only awaits its runner.

Tables (schema version 3 on every backend; every one has ``tenant_id``)::

    investigations   PK (tenant_id, id); (tenant_id, created_at), (tenant_id,
                     trigger_service, created_at), (tenant_id, root_service, created_at)
                     and (created_at) for retention
    graph_snapshots  PK (tenant_id, id); (tenant_id, created_at), (created_at)
    drain_templates  PK (tenant_id, id); id is the template's FNV-64a as a signed BIGINT

``spans_since`` reads ``spans`` of every tenant through the (start_time) index (on
PostgreSQL (start_time, id); elsewhere the index holds the row id after the time) and
returns only what the graph reads: ids, service, operation, kind, times and the status
(code and message) as stored; attributes, resource, scope, events and links are empty.

Error handling: whatever the runner raises (StorageError and its subclasses) goes to the
caller, the graph nursery, which logs, counts and tries again on its next pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

from otelctx.graph import rows as graph_rows
from otelctx.graph.drain import TemplateRecord
from otelctx.graph.investigations import Investigation
from otelctx.graph.persist import MAX_LIST, InvestigationFilter, Mark, SpanPage
from otelctx.graph.summary import GraphSnapshot
from otelctx.model import Scope, SpanKind, SpanRecord, StatusCode
from otelctx.storage import results
from otelctx.storage.plans import Plan
from otelctx.storage.sql_queries import Builder, Change, Dialect, Sql, i64

T = TypeVar("T")

# Rows per multi-row upsert of templates: 7 columns x 500 stays far below every
# backend's limit on bound parameters (SQLite 32766, PostgreSQL 32767).
_TEMPLATE_CHUNK = 500

# What spans_since selects, in this order, after ``id``.
_SPAN_COLUMNS = (
    "tenant_id", "trace_id", "span_id", "parent_span_id", "service_name", "operation_name",
    "kind", "start_time", "end_time", "status_code", "status_message",
)  # fmt: skip


class PlanRunner(Protocol):
    """What a backend offers to run plans: reads in one snapshot, writes in one
    transaction (committed when the plan returns, rolled back when anything raises)."""

    async def read_plan(self, what: str, plan: Plan[T]) -> T: ...

    async def write_plan(self, what: str, plan: Plan[T]) -> T: ...


# -- statements --------------------------------------------------------------------------------


def _upsert(
    d: Dialect, table: str, columns: Sequence[str], key: Sequence[str],
    records: Sequence[dict[str, Any]],
) -> Change:  # fmt: skip
    """INSERT of ``records`` (dicts of ``columns``) that replaces the row of an existing
    ``key``."""
    b = Builder(d)
    q = b.col
    values = ", ".join(
        "(" + ", ".join(b.p(r[c]) for c in columns) + ")" for r in records
    )  # placeholders handed out in text order
    head = f"INSERT INTO {table} ({', '.join(q(c) for c in columns)}) VALUES {values}"
    rest = [c for c in columns if c not in key]
    if d is Dialect.MYSQL:
        sets = ", ".join(f"{q(c)} = VALUES({q(c)})" for c in rest)
        return b.change(f"{head} ON DUPLICATE KEY UPDATE {sets}")
    sets = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in rest)
    return b.change(f"{head} ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}")


def _select(d: Dialect, columns: Sequence[str]) -> str:
    return ", ".join(Builder(d).col(c) for c in columns)


def list_investigations_sql(d: Dialect, f: InvestigationFilter) -> Sql:
    """Newest first (ties: by id), at most ``min(f.limit, MAX_LIST)``."""
    b = Builder(d)
    conds = [f"tenant_id = {b.p(f.tenant_id)}"]
    if f.service is not None:
        conds.append(f"(trigger_service = {b.p(f.service)} OR root_service = {b.p(f.service)})")
    if f.severity is not None:
        conds.append(f"severity = {b.p(f.severity.label)}")
    if f.status is not None:
        conds.append(f"status = {b.p(f.status)}")
    limit = max(0, min(int(f.limit), MAX_LIST))
    return b.sql(
        f"SELECT {_select(d, graph_rows.INVESTIGATION_COLUMNS)} FROM investigations "
        f"WHERE {' AND '.join(conds)} ORDER BY created_at DESC, id LIMIT {b.p(limit)}"
    )


def get_investigation_sql(d: Dialect, tenant_id: str, inv_id: str) -> Sql:
    b = Builder(d)
    return b.sql(
        f"SELECT {_select(d, graph_rows.INVESTIGATION_COLUMNS)} FROM investigations "
        f"WHERE tenant_id = {b.p(tenant_id)} AND id = {b.p(inv_id)}"
    )


def snapshot_at_sql(d: Dialect, tenant_id: str, at_ns: int) -> Sql:
    b = Builder(d)
    return b.sql(
        f"SELECT {_select(d, graph_rows.SNAPSHOT_COLUMNS)} FROM graph_snapshots "
        f"WHERE tenant_id = {b.p(tenant_id)} AND created_at <= {b.p(i64(at_ns))} "
        "ORDER BY created_at DESC, id DESC LIMIT 1"
    )


def prune_snapshots_sql(d: Dialect, cutoff_ns: int) -> Change:
    b = Builder(d)
    return b.change(f"DELETE FROM graph_snapshots WHERE created_at < {b.p(i64(cutoff_ns))}")


def load_templates_sql(d: Dialect) -> Sql:
    return Sql(
        f"SELECT {_select(d, graph_rows.TEMPLATE_COLUMNS)} FROM drain_templates "
        "ORDER BY tenant_id, id"
    )


def spans_since_sql(d: Dialect, mark: Mark, limit: int) -> Sql:
    """Spans of every tenant after ``mark`` in (start_time, id) order. The leading
    ``start_time >= mark`` is the index range; the rest drops the ties already read."""
    b = Builder(d)
    start = i64(mark.start_ns)
    if d is Dialect.POSTGRES:
        # a row comparison is an index condition on (start_time, id) in PostgreSQL
        where = f"(start_time, id) > ({b.p(start)}, {b.p(i64(mark.row_id))})"
    else:
        where = (
            f"start_time >= {b.p(start)} AND (start_time > {b.p(start)} "
            f"OR id > {b.p(i64(mark.row_id))})"
        )
    return b.sql(
        f"SELECT id, {_select(d, _SPAN_COLUMNS)} FROM spans WHERE {where} "
        f"ORDER BY start_time, id LIMIT {b.p(max(0, min(int(limit), 1_000_000)))}"
    )


# -- plans -------------------------------------------------------------------------------------


def _changes(statements: Sequence[Sql]) -> Plan[int]:
    """Run ``statements`` (in the runner's one transaction); the rows they affected."""
    n = 0
    for statement in statements:
        found = yield statement
        n += results.as_int(found[0][0]) if found else 0
    return n


def _one(statement: Sql) -> Plan[list[Any]]:
    found = yield statement
    return list(found)


def _investigation(row: Sequence[Any]) -> Investigation:
    return graph_rows.investigation_from_row(dict(zip(graph_rows.INVESTIGATION_COLUMNS, row,
                                                      strict=True)))  # fmt: skip


def _snapshot(row: Sequence[Any]) -> GraphSnapshot:
    return graph_rows.snapshot_from_row(dict(zip(graph_rows.SNAPSHOT_COLUMNS, row, strict=True)))


def _span(row: Sequence[Any]) -> SpanRecord:
    (_id, tenant, trace_id, span_id, parent, service, name, kind, start, end, status,
     message) = row  # fmt: skip
    return SpanRecord(
        tenant_id=tenant, trace_id=trace_id, span_id=span_id, parent_span_id=parent,
        service_name=service, name=name, kind=_enum(SpanKind, kind, SpanKind.UNSPECIFIED),
        start_time_unix_nano=int(start), end_time_unix_nano=int(end),
        status_code=_enum(StatusCode, status, StatusCode.UNSET), status_message=message,
        trace_state="", attributes={}, resource={}, scope=Scope(), events=(), links=(),
    )  # fmt: skip


_E = TypeVar("_E", SpanKind, StatusCode)


def _enum(cls: type[_E], value: Any, default: _E) -> _E:
    try:
        return cls(int(value))
    except ValueError:
        return default


class SqlGraphPersistence:
    """:class:`~otelctx.graph.persist.GraphPersistence` on a backend's ``PlanRunner``;
    every method is one read or one write transaction."""

    def __init__(self, runner: PlanRunner, dialect: Dialect) -> None:
        self._runner = runner
        self._d = dialect

    async def save_investigation(self, inv: Investigation) -> None:
        statement = _upsert(self._d, "investigations", graph_rows.INVESTIGATION_COLUMNS,
                            ("tenant_id", "id"), [graph_rows.investigation_row(inv)])  # fmt: skip
        await self._runner.write_plan("save_investigation", _changes([statement]))

    async def list_investigations(self, f: InvestigationFilter) -> list[Investigation]:
        found = await self._runner.read_plan(
            "list_investigations", _one(list_investigations_sql(self._d, f))
        )
        return [_investigation(r) for r in found]

    async def get_investigation(self, tenant_id: str, inv_id: str) -> Investigation | None:
        found = await self._runner.read_plan(
            "get_investigation", _one(get_investigation_sql(self._d, tenant_id, inv_id))
        )
        return _investigation(found[0]) if found else None

    async def save_snapshot(self, snap: GraphSnapshot) -> None:
        statement = _upsert(self._d, "graph_snapshots", graph_rows.SNAPSHOT_COLUMNS,
                            ("tenant_id", "id"), [graph_rows.snapshot_row(snap)])  # fmt: skip
        await self._runner.write_plan("save_snapshot", _changes([statement]))

    async def snapshot_at(self, tenant_id: str, at_ns: int) -> GraphSnapshot | None:
        found = await self._runner.read_plan(
            "snapshot_at", _one(snapshot_at_sql(self._d, tenant_id, at_ns))
        )
        return _snapshot(found[0]) if found else None

    async def prune_snapshots(self, cutoff_ns: int) -> int:
        plan = _changes([prune_snapshots_sql(self._d, cutoff_ns)])
        return await self._runner.write_plan("prune_snapshots", plan)

    async def save_templates(self, tenant_id: str, records: list[TemplateRecord]) -> None:
        if not records:
            return
        rows = [graph_rows.template_row(tenant_id, r) for r in records]
        statements = [
            _upsert(self._d, "drain_templates", graph_rows.TEMPLATE_COLUMNS,
                    ("tenant_id", "id"), rows[i : i + _TEMPLATE_CHUNK])
            for i in range(0, len(rows), _TEMPLATE_CHUNK)
        ]  # fmt: skip
        await self._runner.write_plan("save_templates", _changes(statements))

    async def load_templates(self) -> dict[str, list[TemplateRecord]]:
        found = await self._runner.read_plan("load_templates", _one(load_templates_sql(self._d)))
        out: dict[str, list[TemplateRecord]] = {}
        for row in found:
            tenant, record = graph_rows.template_from_row(
                dict(zip(graph_rows.TEMPLATE_COLUMNS, row, strict=True))
            )
            out.setdefault(tenant, []).append(record)
        return out

    async def spans_since(self, mark: Mark, limit: int) -> SpanPage:
        found = await self._runner.read_plan(
            "spans_since", _one(spans_since_sql(self._d, mark, limit))
        )
        if not found:
            return SpanPage([], mark)
        last = found[-1]
        return SpanPage([_span(r) for r in found], Mark(int(last[8]), int(last[0])))
