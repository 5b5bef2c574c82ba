"""The PostgreSQL schema: column types, the statements built from them, and the migrations.

Pure (no driver). The tables and columns are SQLite's (``otelctx/storage/sqlite.py``);
column order is ``rows.*_COLUMNS``, so the bulk statements below line up with the row tuples.

Types: times and durations BIGINT (unix nanoseconds), metric values DOUBLE PRECISION, the
nested values (attributes, resource, scope, events, links, histogram data) TEXT holding the
compact JSON that ``rows`` produced. Not JSONB: jsonb re-serialises on the way in (parse,
key sort) and out (``{"a": 1}`` with spaces, keys in jsonb order), so TEXT is the cheaper
ingest path and gives back byte for byte the text ``rows.span_of`` expects.

Migrations are an ordered list of ``(version, statements)``; ``SCHEMA_VERSION`` is the last.
A migration never changes once released: add a new one instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from otelctx.storage import rows

SCHEMA_VERSION = 3

DATA_TABLES = rows.DATA_TABLES

# pg_advisory_xact_lock key that serialises migrations between otelctx instances
# (b"otelctx" read as a big-endian integer).
MIGRATION_LOCK_KEY = int.from_bytes(b"otelctx", "big")

SPAN_TYPES: Mapping[str, str] = {
    "tenant_id": "text", "trace_id": "text", "span_id": "text", "parent_span_id": "text",
    "service_name": "text", "operation_name": "text", "kind": "integer",
    "start_time": "bigint", "end_time": "bigint", "duration_ns": "bigint",
    "status_code": "integer", "status_message": "text", "trace_state": "text",
    "attributes": "text", "resource": "text", "scope": "text", "events": "text",
    "links": "text",
}  # fmt: skip

TRACE_COLUMNS = (
    "tenant_id", "trace_id", "root_service", "root_operation", "root_is_entry", "root_start",
    "start_time", "end_time", "duration_ns", "span_count", "error_count", "status_code",
)  # fmt: skip

TRACE_TYPES: Mapping[str, str] = {
    "tenant_id": "text", "trace_id": "text", "root_service": "text", "root_operation": "text",
    "root_is_entry": "integer", "root_start": "bigint", "start_time": "bigint",
    "end_time": "bigint", "duration_ns": "bigint", "span_count": "bigint",
    "error_count": "bigint", "status_code": "integer",
}  # fmt: skip

LOG_TYPES: Mapping[str, str] = {
    "tenant_id": "text", "service_name": "text", "timestamp": "bigint",
    "observed_timestamp": "bigint", "severity_number": "integer", "severity_text": "text",
    "body": "text", "body_is_json": "integer", "attributes": "text", "resource": "text",
    "scope": "text", "trace_id": "text", "span_id": "text",
    "flags": "bigint",  # OTLP flags are fixed32: beyond integer
}  # fmt: skip

POINT_TYPES: Mapping[str, str] = {
    "tenant_id": "text", "service_name": "text", "name": "text", "description": "text",
    "unit": "text", "metric_type": "text", "time": "bigint", "start_time": "bigint",
    "value": "double precision", "count": "bigint", "sum": "double precision",
    "min": "double precision", "max": "double precision", "data": "text",
    "attributes": "text", "resource": "text", "scope": "text", "temporality": "integer",
    "is_monotonic": "integer",
}  # fmt: skip

_NULLABLE = frozenset({("metric_points", c) for c in ("value", "count", "sum", "min", "max")})


def _columns_ddl(table: str, columns: tuple[str, ...], types: Mapping[str, str]) -> str:
    if set(columns) != set(types):
        raise AssertionError(f"{table}: column types do not match the row columns")
    return ",\n    ".join(
        f"{c} {types[c]}{'' if (table, c) in _NULLABLE else ' NOT NULL'}" for c in columns
    )


_ID = "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"

_V1 = (
    f"""CREATE TABLE spans (
    {_ID},
    {_columns_ddl("spans", rows.SPAN_COLUMNS, SPAN_TYPES)},
    UNIQUE (tenant_id, trace_id, span_id)
)""",
    "CREATE INDEX idx_spans_tenant_service_start ON spans (tenant_id, service_name, start_time)",
    # fillfactor: every arriving span updates its trace's row; free space on the page lets
    # the updates that leave indexed columns alone stay HOT (no new index entries).
    f"""CREATE TABLE traces (
    {_columns_ddl("traces", TRACE_COLUMNS, TRACE_TYPES)},
    PRIMARY KEY (tenant_id, trace_id)
) WITH (fillfactor = 90)""",
    "CREATE INDEX idx_traces_tenant_start ON traces (tenant_id, start_time)",
    f"""CREATE TABLE logs (
    {_ID},
    {_columns_ddl("logs", rows.LOG_COLUMNS, LOG_TYPES)}
)""",
    "CREATE INDEX idx_logs_tenant_ts ON logs (tenant_id, timestamp)",
    "CREATE INDEX idx_logs_tenant_trace ON logs (tenant_id, trace_id)",
    f"""CREATE TABLE metric_points (
    {_ID},
    {_columns_ddl("metric_points", rows.POINT_COLUMNS, POINT_TYPES)}
)""",
    "CREATE INDEX idx_metric_points_tenant_name_time ON metric_points (tenant_id, name, time)",
)

# The query API's indexes. Spans by (tenant, trace) need none of their own: the unique
# key (tenant_id, trace_id, span_id) serves them. Built inside the migration's
# transaction: on a large database the upgrade holds writes back while they build (the
# writer's dead-letter queue keeps acknowledging meanwhile).
_V2 = (
    "CREATE INDEX IF NOT EXISTS idx_traces_tenant_duration ON traces (tenant_id, duration_ns)",
    "CREATE INDEX IF NOT EXISTS idx_spans_tenant_start ON spans (tenant_id, start_time)",
    "CREATE INDEX IF NOT EXISTS idx_logs_tenant_service_ts"
    " ON logs (tenant_id, service_name, timestamp)",
    "CREATE INDEX IF NOT EXISTS idx_logs_tenant_severity_ts"
    " ON logs (tenant_id, severity_number, timestamp)",
    "CREATE INDEX IF NOT EXISTS idx_metric_points_tenant_service_name"
    " ON metric_points (tenant_id, service_name, name)",
)

# What the service graph keeps (storage.graph_sql), the keys of the DLQ batches replay
# stored, and the (start_time, id) index that the graph's rebuild reads every tenant's
# spans in order by (retention counts and deletes by it too). Built in the migration's
# transaction, like version 2's.
_V3 = (
    "CREATE INDEX IF NOT EXISTS idx_spans_start_id ON spans (start_time, id)",
    """CREATE TABLE IF NOT EXISTS investigations (
    tenant_id text NOT NULL, id text NOT NULL, created_at bigint NOT NULL,
    status text NOT NULL, severity text NOT NULL, trigger_service text NOT NULL,
    trigger_operation text NOT NULL, error_message text NOT NULL, root_service text NOT NULL,
    root_operation text NOT NULL, causal_chain text NOT NULL, trace_ids text NOT NULL,
    error_logs text NOT NULL, anomalous_metrics text NOT NULL,
    affected_services text NOT NULL, span_chain text NOT NULL, anomaly_ids text NOT NULL,
    PRIMARY KEY (tenant_id, id)
)""",
    "CREATE INDEX IF NOT EXISTS idx_investigations_tenant_created"
    " ON investigations (tenant_id, created_at)",
    "CREATE INDEX IF NOT EXISTS idx_investigations_tenant_trigger"
    " ON investigations (tenant_id, trigger_service, created_at)",
    "CREATE INDEX IF NOT EXISTS idx_investigations_tenant_root"
    " ON investigations (tenant_id, root_service, created_at)",
    "CREATE INDEX IF NOT EXISTS idx_investigations_created ON investigations (created_at)",
    """CREATE TABLE IF NOT EXISTS graph_snapshots (
    tenant_id text NOT NULL, id text NOT NULL, created_at bigint NOT NULL,
    nodes text NOT NULL, edges text NOT NULL, service_count bigint NOT NULL,
    total_calls bigint NOT NULL, avg_health_score double precision NOT NULL,
    PRIMARY KEY (tenant_id, id)
)""",
    "CREATE INDEX IF NOT EXISTS idx_graph_snapshots_tenant_created"
    " ON graph_snapshots (tenant_id, created_at)",
    "CREATE INDEX IF NOT EXISTS idx_graph_snapshots_created ON graph_snapshots (created_at)",
    """CREATE TABLE IF NOT EXISTS drain_templates (
    tenant_id text NOT NULL, id bigint NOT NULL, tokens text NOT NULL, count bigint NOT NULL,
    first_seen bigint NOT NULL, last_seen bigint NOT NULL, sample text NOT NULL,
    PRIMARY KEY (tenant_id, id)
)""",
    "CREATE INDEX IF NOT EXISTS idx_drain_templates_last_seen ON drain_templates (last_seen)",
    # DLQ batches stored by replay, by their envelope's checksum (see Storage.write)
    """CREATE TABLE IF NOT EXISTS dlq_replays (
    batch_key text PRIMARY KEY, stored_at bigint NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS idx_dlq_replays_stored_at ON dlq_replays (stored_at)",
)

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = ((1, _V1), (2, _V2), (3, _V3))

# Optional, tried once in the migration that creates ``logs`` (inside a savepoint): the
# extension may be unavailable or the role may lack CREATE on the database.
TRGM_VERSION = 1
TRGM_EXTENSION = "CREATE EXTENSION IF NOT EXISTS pg_trgm"
TRGM_INDEX = "CREATE INDEX idx_logs_body_trgm ON logs USING gin (body gin_trgm_ops)"
TRGM_INDEX_LATER = (
    "CREATE EXTENSION pg_trgm; "
    "CREATE INDEX CONCURRENTLY idx_logs_body_trgm ON logs USING gin (body gin_trgm_ops)"
)

SCHEMA_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""

if MIGRATIONS[-1][0] != SCHEMA_VERSION or [v for v, _ in MIGRATIONS] != sorted(
    {v for v, _ in MIGRATIONS}
):
    raise AssertionError("MIGRATIONS must be strictly increasing and end at SCHEMA_VERSION")

# -- statements of the write and read paths ------------------------------------------------

# Spans and trace deltas are COPYed (binary) into per-connection temporary tables and moved
# on with one INSERT ... SELECT ... ON CONFLICT each. Measured with asyncpg 0.32 on 20k spans:
# encoding 18 unnest() arrays costs ~270 ms of client CPU (on the event-loop thread), binary
# COPY of the same rows ~27 ms. ON COMMIT DELETE ROWS empties them at each commit (PostgreSQL
# skips that in transactions that did not touch a temporary table).
SPANS_STAGING = "otelctx_spans_in"
TRACES_STAGING = "otelctx_traces_in"


def _staging(name: str, columns: tuple[str, ...], types: Mapping[str, str]) -> str:
    return (
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} "
        f"({', '.join(f'{c} {types[c]}' for c in columns)}) ON COMMIT DELETE ROWS"
    )


CREATE_STAGING = (
    _staging(SPANS_STAGING, rows.SPAN_COLUMNS, SPAN_TYPES),
    _staging(TRACES_STAGING, TRACE_COLUMNS, TRACE_TYPES),
)

_SPAN_LIST = ", ".join(rows.SPAN_COLUMNS)

# Moves the staged spans in, skipping stored ones (and the second copy of a span sent twice
# in one batch). One row comes back: how many went in and, only when that is fewer than the
# batch ($1), the keys of those that did, so the common no-duplicate case ships no keys.
INSERT_SPANS = f"""
WITH ins AS (
    INSERT INTO spans ({_SPAN_LIST}) SELECT {_SPAN_LIST} FROM {SPANS_STAGING}
    ON CONFLICT (tenant_id, trace_id, span_id) DO NOTHING
    RETURNING tenant_id, trace_id, span_id
)
SELECT count(*),
       CASE WHEN count(*) < $1::bigint THEN array_agg(tenant_id) END,
       CASE WHEN count(*) < $1::bigint THEN array_agg(trace_id) END,
       CASE WHEN count(*) < $1::bigint THEN array_agg(span_id) END
FROM ins
"""

# summaries.merge in SQL. SET expressions see the row as it was before the update
# (``t``), as in SQLite; "newer root": an entry span beats a non-entry one, then the
# earlier start wins. ORDER BY: concurrent writers lock shared trace rows in the same
# order, so they queue instead of deadlocking.
_NEWER_ROOT = (
    "(EXCLUDED.root_is_entry > t.root_is_entry OR (EXCLUDED.root_is_entry = t.root_is_entry"
    " AND EXCLUDED.root_start < t.root_start))"
)
_TRACE_LIST = ", ".join(TRACE_COLUMNS)
UPSERT_TRACES = f"""
INSERT INTO traces AS t ({_TRACE_LIST})
SELECT {_TRACE_LIST} FROM {TRACES_STAGING} ORDER BY tenant_id, trace_id
ON CONFLICT (tenant_id, trace_id) DO UPDATE SET
    root_service = CASE WHEN {_NEWER_ROOT} THEN EXCLUDED.root_service ELSE t.root_service END,
    root_operation = CASE WHEN {_NEWER_ROOT} THEN EXCLUDED.root_operation
                          ELSE t.root_operation END,
    root_start = CASE WHEN {_NEWER_ROOT} THEN EXCLUDED.root_start ELSE t.root_start END,
    root_is_entry = GREATEST(t.root_is_entry, EXCLUDED.root_is_entry),
    start_time = LEAST(t.start_time, EXCLUDED.start_time),
    end_time = GREATEST(t.end_time, EXCLUDED.end_time),
    duration_ns = GREATEST(t.end_time, EXCLUDED.end_time)
                  - LEAST(t.start_time, EXCLUDED.start_time),
    span_count = t.span_count + EXCLUDED.span_count,
    error_count = t.error_count + EXCLUDED.error_count,
    status_code = GREATEST(t.status_code, EXCLUDED.status_code)
"""


# The first statement of a replayed batch's transaction: no row inserted means the batch
# is stored already (a concurrent claim of the same key waits for the first to end).
CLAIM_REPLAY = (
    "INSERT INTO dlq_replays (batch_key, stored_at) VALUES ($1, $2)"
    " ON CONFLICT (batch_key) DO NOTHING"
)

SELECT_TRACE = (
    "SELECT root_service, root_operation, start_time, end_time, span_count, error_count,"
    " status_code FROM traces WHERE tenant_id = $1 AND trace_id = $2"
)
SELECT_SPANS = (
    f"SELECT {', '.join(rows.SPAN_COLUMNS)} FROM spans"
    " WHERE tenant_id = $1 AND trace_id = $2 ORDER BY start_time, id"
)
SELECT_LOGS = (
    f"SELECT {', '.join(rows.LOG_COLUMNS)} FROM logs"
    " WHERE tenant_id = $1 AND trace_id = $2 ORDER BY timestamp, id"
)
VACUUM_ANALYZE = f"VACUUM ANALYZE {', '.join(sorted(DATA_TABLES))}"
