"""The SQLite schema and its migrations: pure data, no connection.

Migrations are an ordered list of ``(version, statements)``; ``SCHEMA_VERSION`` is the
last. ``sqlite._migrate`` applies each pending version in its own transaction (DDL is
transactional in SQLite), so a version is either wholly there or not at all. A
released migration never changes: add a new one instead.

Version 2 adds the query API's indexes and ``logs_fts``: an external-content FTS5 table
with the trigram tokenizer over ``logs.body`` (substring search, ASCII case folded). It
holds no copy of the text, only the index; triggers keep it in step with ``logs`` in the
transaction that inserts or deletes the logs (ingest, retention, purge_tenant), and the
migration indexes the logs already stored.

Version 3 adds what the service graph keeps (``investigations``, ``graph_snapshots``,
``drain_templates``: see ``storage.graph_sql``), a (start_time) index on ``spans`` for
the graph's rebuild, which reads the spans of every tenant in time order (retention
counts and deletes by it too), and ``dlq_replays``, the keys of the dead-letter batches
already stored (``Storage.write``'s ``replay_key``).

Version 4 cuts the pages each commit writes (in the load test, 1.55 WAL pages a span
before, 1.09 after: ``bench/bench_sqlite_write.py`` prints it). Trace ids are random, so
every new trace landed on a random leaf of ``traces`` itself (a WITHOUT ROWID table of
wide rows) and of its (tenant, duration) index. ``traces`` is rebuilt with a rowid (rows
appended in start order; (tenant, trace) becomes a unique index of narrow entries), and
the duration index becomes (tenant, duration class, start, duration) on a virtual column
(``DURATION_CLASS``): a few dozen insertion points, each appended to in start order.
Duration-sorted search without a window's start orders by class, then duration (the same
order), and reads that index. PostgreSQL and MySQL keep their schema (their writes are
not in otelctx's process).
"""

from __future__ import annotations

SCHEMA_VERSION = 4

_V1 = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS spans (
    id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL, trace_id TEXT NOT NULL, span_id TEXT NOT NULL,
    parent_span_id TEXT NOT NULL, service_name TEXT NOT NULL, operation_name TEXT NOT NULL,
    kind INTEGER NOT NULL, start_time INTEGER NOT NULL, end_time INTEGER NOT NULL,
    duration_ns INTEGER NOT NULL, status_code INTEGER NOT NULL, status_message TEXT NOT NULL,
    trace_state TEXT NOT NULL, attributes TEXT NOT NULL, resource TEXT NOT NULL,
    scope TEXT NOT NULL, events TEXT NOT NULL, links TEXT NOT NULL,
    UNIQUE (tenant_id, trace_id, span_id)
)""",
    """CREATE INDEX IF NOT EXISTS idx_spans_tenant_service_start
    ON spans (tenant_id, service_name, start_time)""",
    """CREATE TABLE IF NOT EXISTS traces (
    tenant_id TEXT NOT NULL, trace_id TEXT NOT NULL,
    root_service TEXT NOT NULL, root_operation TEXT NOT NULL,
    root_is_entry INTEGER NOT NULL, root_start INTEGER NOT NULL,
    start_time INTEGER NOT NULL, end_time INTEGER NOT NULL, duration_ns INTEGER NOT NULL,
    span_count INTEGER NOT NULL, error_count INTEGER NOT NULL, status_code INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, trace_id)
) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS idx_traces_tenant_start ON traces (tenant_id, start_time)",
    """CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL, service_name TEXT NOT NULL, timestamp INTEGER NOT NULL,
    observed_timestamp INTEGER NOT NULL, severity_number INTEGER NOT NULL,
    severity_text TEXT NOT NULL, body TEXT NOT NULL, body_is_json INTEGER NOT NULL,
    attributes TEXT NOT NULL, resource TEXT NOT NULL, scope TEXT NOT NULL,
    trace_id TEXT NOT NULL, span_id TEXT NOT NULL, flags INTEGER NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS idx_logs_tenant_ts ON logs (tenant_id, timestamp)",
    "CREATE INDEX IF NOT EXISTS idx_logs_tenant_trace ON logs (tenant_id, trace_id)",
    """CREATE TABLE IF NOT EXISTS metric_points (
    id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL, service_name TEXT NOT NULL, name TEXT NOT NULL,
    description TEXT NOT NULL, unit TEXT NOT NULL, metric_type TEXT NOT NULL,
    time INTEGER NOT NULL, start_time INTEGER NOT NULL, value REAL, count INTEGER, sum REAL,
    min REAL, max REAL, data TEXT NOT NULL, attributes TEXT NOT NULL, resource TEXT NOT NULL,
    scope TEXT NOT NULL, temporality INTEGER NOT NULL, is_monotonic INTEGER NOT NULL
)""",
    """CREATE INDEX IF NOT EXISTS idx_metric_points_tenant_name_time
    ON metric_points (tenant_id, name, time)""",
)

# Spans by (tenant, trace) need no index of their own: UNIQUE (tenant_id, trace_id,
# span_id) serves them.
_V2 = (
    "CREATE INDEX IF NOT EXISTS idx_traces_tenant_duration ON traces (tenant_id, duration_ns)",
    # Covering: the dashboard, p99, traffic and latency points read a window's traces
    # from the index alone (a third of the time on a million spans); it replaces the
    # (tenant, start) index, whose prefix it has.
    """CREATE INDEX IF NOT EXISTS idx_traces_tenant_start_cover
    ON traces (tenant_id, start_time, root_service, status_code, duration_ns)""",
    "DROP INDEX IF EXISTS idx_traces_tenant_start",
    "CREATE INDEX IF NOT EXISTS idx_spans_tenant_start ON spans (tenant_id, start_time)",
    """CREATE INDEX IF NOT EXISTS idx_logs_tenant_service_ts
    ON logs (tenant_id, service_name, timestamp)""",
    """CREATE INDEX IF NOT EXISTS idx_logs_tenant_severity_ts
    ON logs (tenant_id, severity_number, timestamp)""",
    """CREATE INDEX IF NOT EXISTS idx_metric_points_tenant_service_name
    ON metric_points (tenant_id, service_name, name)""",
    """CREATE VIRTUAL TABLE IF NOT EXISTS logs_fts USING fts5(
    body, content = 'logs', content_rowid = 'id', tokenize = 'trigram')""",
    """CREATE TRIGGER IF NOT EXISTS logs_fts_insert AFTER INSERT ON logs BEGIN
    INSERT INTO logs_fts (rowid, body) VALUES (new.id, new.body);
END""",
    # an external-content table forgets a row only when told the text it indexed
    """CREATE TRIGGER IF NOT EXISTS logs_fts_delete AFTER DELETE ON logs BEGIN
    INSERT INTO logs_fts (logs_fts, rowid, body) VALUES ('delete', old.id, old.body);
END""",
    """CREATE TRIGGER IF NOT EXISTS logs_fts_update AFTER UPDATE OF body ON logs BEGIN
    INSERT INTO logs_fts (logs_fts, rowid, body) VALUES ('delete', old.id, old.body);
    INSERT INTO logs_fts (rowid, body) VALUES (new.id, new.body);
END""",
    "INSERT INTO logs_fts (logs_fts) VALUES ('rebuild')",
)

# Nested values (lists, nodes and edges, tokens) are JSON text, as in rows.py.
_V3 = (
    "CREATE INDEX IF NOT EXISTS idx_spans_start ON spans (start_time)",
    """CREATE TABLE IF NOT EXISTS investigations (
    tenant_id TEXT NOT NULL, id TEXT NOT NULL, created_at INTEGER NOT NULL,
    status TEXT NOT NULL, severity TEXT NOT NULL, trigger_service TEXT NOT NULL,
    trigger_operation TEXT NOT NULL, error_message TEXT NOT NULL, root_service TEXT NOT NULL,
    root_operation TEXT NOT NULL, causal_chain TEXT NOT NULL, trace_ids TEXT NOT NULL,
    error_logs TEXT NOT NULL, anomalous_metrics TEXT NOT NULL,
    affected_services TEXT NOT NULL, span_chain TEXT NOT NULL, anomaly_ids TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
)""",
    """CREATE INDEX IF NOT EXISTS idx_investigations_tenant_created
    ON investigations (tenant_id, created_at)""",
    """CREATE INDEX IF NOT EXISTS idx_investigations_tenant_trigger
    ON investigations (tenant_id, trigger_service, created_at)""",
    """CREATE INDEX IF NOT EXISTS idx_investigations_tenant_root
    ON investigations (tenant_id, root_service, created_at)""",
    "CREATE INDEX IF NOT EXISTS idx_investigations_created ON investigations (created_at)",
    """CREATE TABLE IF NOT EXISTS graph_snapshots (
    tenant_id TEXT NOT NULL, id TEXT NOT NULL, created_at INTEGER NOT NULL,
    nodes TEXT NOT NULL, edges TEXT NOT NULL, service_count INTEGER NOT NULL,
    total_calls INTEGER NOT NULL, avg_health_score REAL NOT NULL,
    PRIMARY KEY (tenant_id, id)
)""",
    """CREATE INDEX IF NOT EXISTS idx_graph_snapshots_tenant_created
    ON graph_snapshots (tenant_id, created_at)""",
    "CREATE INDEX IF NOT EXISTS idx_graph_snapshots_created ON graph_snapshots (created_at)",
    """CREATE TABLE IF NOT EXISTS drain_templates (
    tenant_id TEXT NOT NULL, id INTEGER NOT NULL, tokens TEXT NOT NULL,
    "count" INTEGER NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
    sample TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id)
)""",
    "CREATE INDEX IF NOT EXISTS idx_drain_templates_last_seen ON drain_templates (last_seen)",
    # DLQ batches stored by replay, by their envelope's checksum (see Storage.write)
    """CREATE TABLE IF NOT EXISTS dlq_replays (
    batch_key TEXT NOT NULL PRIMARY KEY, stored_at INTEGER NOT NULL
)""",
    "CREATE INDEX IF NOT EXISTS idx_dlq_replays_stored_at ON dlq_replays (stored_at)",
)

# A trace's duration class: its number of decimal digits and its first digit (100 ms to
# 199.9 ms share one, 200 ms is the next), 0 below 10 ns. It never decreases as the
# duration grows, so ORDER BY (duration_class, duration_ns) is ORDER BY duration_ns.
DURATION_CLASS = (
    "CASE WHEN duration_ns < 10 THEN 0 ELSE length(CAST(duration_ns AS TEXT)) * 10"
    " + CAST(substr(CAST(duration_ns AS TEXT), 1, 1) AS INTEGER) END"
)

# the columns version 4 copies, as they were then (sqlite.py's own list may grow later;
# a released migration does not)
_V4_TRACE_COLUMNS = (
    "tenant_id, trace_id, root_service, root_operation, root_is_entry, root_start, "
    "start_time, end_time, duration_ns, span_count, error_count, status_code"
)

_V4 = (
    # traces gets a rowid, rows in insertion (about start) order; the (tenant, trace) key
    # becomes a unique index
    """CREATE TABLE traces_v4 (
    tenant_id TEXT NOT NULL, trace_id TEXT NOT NULL,
    root_service TEXT NOT NULL, root_operation TEXT NOT NULL,
    root_is_entry INTEGER NOT NULL, root_start INTEGER NOT NULL,
    start_time INTEGER NOT NULL, end_time INTEGER NOT NULL, duration_ns INTEGER NOT NULL,
    span_count INTEGER NOT NULL, error_count INTEGER NOT NULL, status_code INTEGER NOT NULL,
    duration_class INTEGER GENERATED ALWAYS AS ("""
    + DURATION_CLASS
    + """) VIRTUAL,
    UNIQUE (tenant_id, trace_id)
)""",
    f"INSERT INTO traces_v4 ({_V4_TRACE_COLUMNS}) SELECT {_V4_TRACE_COLUMNS} FROM traces"
    " ORDER BY start_time",
    "DROP TABLE traces",  # and its indexes
    "ALTER TABLE traces_v4 RENAME TO traces",
    """CREATE INDEX idx_traces_tenant_start_cover
    ON traces (tenant_id, start_time, root_service, status_code, duration_ns)""",
    """CREATE INDEX idx_traces_tenant_duration_class
    ON traces (tenant_id, duration_class, start_time, duration_ns)""",
)

MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (1, _V1), (2, _V2), (3, _V3), (4, _V4)
)  # fmt: skip

if MIGRATIONS[-1][0] != SCHEMA_VERSION or [v for v, _ in MIGRATIONS] != sorted(
    {v for v, _ in MIGRATIONS}
):
    raise AssertionError("MIGRATIONS must be strictly increasing and end at SCHEMA_VERSION")
