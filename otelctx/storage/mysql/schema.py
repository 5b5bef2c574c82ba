"""The MySQL/MariaDB schema and its migrations: pure data, no driver.

Same tables, columns and indexes as the SQLite backend, in MySQL types: times are
BIGINT nanoseconds, values DOUBLE, nested JSON LONGTEXT. Every table is InnoDB and
utf8mb4 with a binary NO PAD collation (``utf8mb4_nopad_bin`` on MariaDB,
``utf8mb4_0900_bin`` on MySQL 8, plain ``utf8mb4_bin`` where neither exists): ids,
tenants and service names compare byte for byte, as in SQLite and PostgreSQL. A
``_ci`` collation would merge tenant ``Acme`` into ``acme``; a PAD SPACE one would make
``"a"`` and ``"a "`` one unique key while Python sees two.

Indexed text columns are VARCHARs whose key stays far below InnoDB's 3072-byte
limit (4 bytes a character): tenant 128, trace id 32, span id 16, service and
metric name 255 characters. A longer value fails the write (strict mode) with
StorageError, which the writer turns into a rejection of that one export. Names
that nothing indexes (operations) get 1024 characters; free text is TEXT/LONGTEXT.

Migrations are an ordered list of ``(version, steps)``. MySQL commits every DDL
statement on its own, so a migration that stopped half-way is simply run again:
each step must be idempotent (``CREATE TABLE IF NOT EXISTS``, ``AddIndex`` checks
that the index is missing first). A version is recorded only after all its steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from otelctx.storage import rows

MIGRATE_LOCK = "otelctx_migrate"
MIGRATE_LOCK_TIMEOUT_S = 30

DATA_TABLES = tuple(sorted(rows.DATA_TABLES))

# The first of these that the server has; the DDL below says {collation}.
COLLATIONS = ("utf8mb4_nopad_bin", "utf8mb4_0900_bin", "utf8mb4_bin")
_TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collation} ROW_FORMAT=DYNAMIC"


@dataclass(frozen=True, slots=True)
class AddIndex:
    """``CREATE INDEX`` unless an index of that name exists (MySQL has no IF NOT EXISTS)."""

    table: str
    name: str
    columns: tuple[str, ...]

    def sql(self) -> str:
        cols = ", ".join(f"`{c}`" for c in self.columns)
        return f"CREATE INDEX `{self.name}` ON `{self.table}` ({cols})"


Step = str | AddIndex
"""A statement (``{collation}`` is filled in) or an index to add."""

_V1: tuple[Step, ...] = (
    f"""CREATE TABLE IF NOT EXISTS schema_version (
        version INT NOT NULL PRIMARY KEY
    ) {_TABLE_OPTIONS}""",
    f"""CREATE TABLE IF NOT EXISTS spans (
        id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        tenant_id VARCHAR(128) NOT NULL, trace_id VARCHAR(32) NOT NULL,
        span_id VARCHAR(16) NOT NULL, parent_span_id VARCHAR(16) NOT NULL,
        service_name VARCHAR(255) NOT NULL, operation_name VARCHAR(1024) NOT NULL,
        kind TINYINT NOT NULL, start_time BIGINT NOT NULL, end_time BIGINT NOT NULL,
        duration_ns BIGINT NOT NULL, status_code TINYINT NOT NULL,
        status_message MEDIUMTEXT NOT NULL, trace_state TEXT NOT NULL,
        attributes LONGTEXT NOT NULL, resource LONGTEXT NOT NULL, scope LONGTEXT NOT NULL,
        events LONGTEXT NOT NULL, links LONGTEXT NOT NULL,
        UNIQUE KEY uq_spans_tenant_trace_span (tenant_id, trace_id, span_id)
    ) {_TABLE_OPTIONS}""",
    AddIndex(
        "spans", "idx_spans_tenant_service_start", ("tenant_id", "service_name", "start_time")
    ),
    f"""CREATE TABLE IF NOT EXISTS traces (
        tenant_id VARCHAR(128) NOT NULL, trace_id VARCHAR(32) NOT NULL,
        root_service VARCHAR(255) NOT NULL, root_operation VARCHAR(1024) NOT NULL,
        root_is_entry TINYINT NOT NULL, root_start BIGINT NOT NULL,
        start_time BIGINT NOT NULL, end_time BIGINT NOT NULL, duration_ns BIGINT NOT NULL,
        span_count BIGINT NOT NULL, error_count BIGINT NOT NULL, status_code TINYINT NOT NULL,
        PRIMARY KEY (tenant_id, trace_id)
    ) {_TABLE_OPTIONS}""",
    AddIndex("traces", "idx_traces_tenant_start", ("tenant_id", "start_time")),
    f"""CREATE TABLE IF NOT EXISTS logs (
        id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        tenant_id VARCHAR(128) NOT NULL, service_name VARCHAR(255) NOT NULL,
        `timestamp` BIGINT NOT NULL, observed_timestamp BIGINT NOT NULL,
        severity_number INT NOT NULL, severity_text TEXT NOT NULL, body LONGTEXT NOT NULL,
        body_is_json TINYINT NOT NULL, attributes LONGTEXT NOT NULL,
        resource LONGTEXT NOT NULL, scope LONGTEXT NOT NULL,
        trace_id VARCHAR(32) NOT NULL, span_id VARCHAR(16) NOT NULL, flags BIGINT NOT NULL
    ) {_TABLE_OPTIONS}""",
    AddIndex("logs", "idx_logs_tenant_ts", ("tenant_id", "timestamp")),
    AddIndex("logs", "idx_logs_tenant_trace", ("tenant_id", "trace_id")),
    f"""CREATE TABLE IF NOT EXISTS metric_points (
        id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
        tenant_id VARCHAR(128) NOT NULL, service_name VARCHAR(255) NOT NULL,
        name VARCHAR(255) NOT NULL, description TEXT NOT NULL, unit TEXT NOT NULL,
        metric_type VARCHAR(32) NOT NULL, `time` BIGINT NOT NULL, start_time BIGINT NOT NULL,
        value DOUBLE NULL, `count` BIGINT NULL, `sum` DOUBLE NULL, `min` DOUBLE NULL,
        `max` DOUBLE NULL, data LONGTEXT NOT NULL, attributes LONGTEXT NOT NULL,
        resource LONGTEXT NOT NULL, scope LONGTEXT NOT NULL, temporality INT NOT NULL,
        is_monotonic TINYINT NOT NULL
    ) {_TABLE_OPTIONS}""",
    AddIndex("metric_points", "idx_metric_points_tenant_name_time", ("tenant_id", "name", "time")),
)

# The query API's indexes (InnoDB builds them online: writes go on meanwhile). Spans by
# (tenant, trace) need none of their own: the unique key serves them.
_V2: tuple[Step, ...] = (
    AddIndex("traces", "idx_traces_tenant_duration", ("tenant_id", "duration_ns")),
    AddIndex("spans", "idx_spans_tenant_start", ("tenant_id", "start_time")),
    AddIndex("logs", "idx_logs_tenant_service_ts", ("tenant_id", "service_name", "timestamp")),
    AddIndex("logs", "idx_logs_tenant_severity_ts", ("tenant_id", "severity_number", "timestamp")),
    AddIndex(
        "metric_points",
        "idx_metric_points_tenant_service_name",
        ("tenant_id", "service_name", "name"),
    ),
)

# What the service graph keeps (storage.graph_sql), the keys of the DLQ batches replay
# stored, and a (start_time) index on spans (InnoDB appends the primary key, so it is in
# (start_time, id) order) that the graph's rebuild reads every tenant's spans through
# (retention counts and deletes by it too).
_V3: tuple[Step, ...] = (
    AddIndex("spans", "idx_spans_start", ("start_time",)),
    f"""CREATE TABLE IF NOT EXISTS investigations (
        tenant_id VARCHAR(128) NOT NULL, id VARCHAR(64) NOT NULL, created_at BIGINT NOT NULL,
        status VARCHAR(32) NOT NULL, severity VARCHAR(16) NOT NULL,
        trigger_service VARCHAR(255) NOT NULL, trigger_operation VARCHAR(1024) NOT NULL,
        error_message MEDIUMTEXT NOT NULL, root_service VARCHAR(255) NOT NULL,
        root_operation VARCHAR(1024) NOT NULL, causal_chain LONGTEXT NOT NULL,
        trace_ids LONGTEXT NOT NULL, error_logs LONGTEXT NOT NULL,
        anomalous_metrics LONGTEXT NOT NULL, affected_services LONGTEXT NOT NULL,
        span_chain LONGTEXT NOT NULL, anomaly_ids LONGTEXT NOT NULL,
        PRIMARY KEY (tenant_id, id)
    ) {_TABLE_OPTIONS}""",
    AddIndex("investigations", "idx_investigations_tenant_created", ("tenant_id", "created_at")),
    AddIndex(
        "investigations",
        "idx_investigations_tenant_trigger",
        ("tenant_id", "trigger_service", "created_at"),
    ),
    AddIndex(
        "investigations",
        "idx_investigations_tenant_root",
        ("tenant_id", "root_service", "created_at"),
    ),
    AddIndex("investigations", "idx_investigations_created", ("created_at",)),
    f"""CREATE TABLE IF NOT EXISTS graph_snapshots (
        tenant_id VARCHAR(128) NOT NULL, id VARCHAR(64) NOT NULL, created_at BIGINT NOT NULL,
        nodes LONGTEXT NOT NULL, edges LONGTEXT NOT NULL, service_count BIGINT NOT NULL,
        total_calls BIGINT NOT NULL, avg_health_score DOUBLE NOT NULL,
        PRIMARY KEY (tenant_id, id)
    ) {_TABLE_OPTIONS}""",
    AddIndex("graph_snapshots", "idx_graph_snapshots_tenant_created", ("tenant_id", "created_at")),
    AddIndex("graph_snapshots", "idx_graph_snapshots_created", ("created_at",)),
    f"""CREATE TABLE IF NOT EXISTS drain_templates (
        tenant_id VARCHAR(128) NOT NULL, id BIGINT NOT NULL, tokens LONGTEXT NOT NULL,
        `count` BIGINT NOT NULL, first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL,
        sample TEXT NOT NULL,
        PRIMARY KEY (tenant_id, id)
    ) {_TABLE_OPTIONS}""",
    AddIndex("drain_templates", "idx_drain_templates_last_seen", ("last_seen",)),
    # DLQ batches stored by replay, by their envelope's checksum (see Storage.write)
    f"""CREATE TABLE IF NOT EXISTS dlq_replays (
        batch_key VARCHAR(64) NOT NULL PRIMARY KEY, stored_at BIGINT NOT NULL
    ) {_TABLE_OPTIONS}""",
    AddIndex("dlq_replays", "idx_dlq_replays_stored_at", ("stored_at",)),
)

MIGRATIONS: tuple[tuple[int, tuple[Step, ...]], ...] = ((1, _V1), (2, _V2), (3, _V3))
SCHEMA_VERSION = MIGRATIONS[-1][0]

# -- statements of the data path ------------------------------------------------------------


def _cols(columns: tuple[str, ...]) -> str:
    return ", ".join(f"`{c}`" for c in columns)


@dataclass(frozen=True, slots=True)
class RowsStatement:
    """A statement over many rows: ``head``, then ``(value, ...)`` per row joined by
    commas, then ``tail`` (``render.cut`` fills it in)."""

    head: str
    tail: str = ""


def _insert(table: str, columns: tuple[str, ...], tail: str = "") -> RowsStatement:
    return RowsStatement(f"INSERT INTO {table} ({_cols(columns)}) VALUES ", tail)


# A duplicate span is a no-op that reports 0 affected rows (asyncmy does not set
# CLIENT_FOUND_ROWS); unlike INSERT IGNORE it still fails on bad data.
INSERT_SPANS = _insert("spans", rows.SPAN_COLUMNS, " ON DUPLICATE KEY UPDATE span_id = span_id")
INSERT_LOGS = _insert("logs", rows.LOG_COLUMNS)
INSERT_POINTS = _insert("metric_points", rows.POINT_COLUMNS)

TRACE_COLUMNS = (
    "tenant_id", "trace_id", "root_service", "root_operation", "root_is_entry", "root_start",
    "start_time", "end_time", "duration_ns", "span_count", "error_count", "status_code",
)  # fmt: skip

# The merge rule of summaries.merge. MySQL evaluates the assignments left to right
# and a later one sees the columns already assigned (MariaDB too, unless its
# SIMULTANEOUS_ASSIGNMENT mode is on). So every expression reads only columns that
# are assigned after it, which gives the same result under both rules: the root
# columns (which compare against the old root_is_entry/root_start) come first,
# root_is_entry after root_start, duration before start_time/end_time.
_NEWER_ROOT = (
    "(VALUES(root_is_entry) > root_is_entry OR (VALUES(root_is_entry) = root_is_entry"
    " AND VALUES(root_start) < root_start))"
)
UPSERT_TRACES = _insert(
    "traces",
    TRACE_COLUMNS,
    f""" ON DUPLICATE KEY UPDATE
    root_service = IF({_NEWER_ROOT}, VALUES(root_service), root_service),
    root_operation = IF({_NEWER_ROOT}, VALUES(root_operation), root_operation),
    root_start = IF({_NEWER_ROOT}, VALUES(root_start), root_start),
    root_is_entry = GREATEST(root_is_entry, VALUES(root_is_entry)),
    duration_ns = GREATEST(end_time, VALUES(end_time)) - LEAST(start_time, VALUES(start_time)),
    start_time = LEAST(start_time, VALUES(start_time)),
    end_time = GREATEST(end_time, VALUES(end_time)),
    span_count = span_count + VALUES(span_count),
    error_count = error_count + VALUES(error_count),
    status_code = GREATEST(status_code, VALUES(status_code))""",
)

# The first statement of a replayed batch's transaction: 0 rows affected (a duplicate key
# changes nothing) means the batch is stored already.
CLAIM_REPLAY = (
    "INSERT INTO dlq_replays (batch_key, stored_at) VALUES ({key}, {at})"
    " ON DUPLICATE KEY UPDATE batch_key = batch_key"
)

# Which (tenant, trace, span) keys are stored: a range scan of the unique key.
STORED_SPAN_KEYS = RowsStatement(
    "SELECT tenant_id, trace_id, span_id FROM spans WHERE (tenant_id, trace_id, span_id) IN (",
    ")",
)

SELECT_TRACE = (
    "SELECT root_service, root_operation, start_time, end_time, span_count, error_count,"
    " status_code FROM traces WHERE tenant_id = %s AND trace_id = %s"
)
SELECT_SPANS = (
    f"SELECT {_cols(rows.SPAN_COLUMNS)} FROM spans"
    " WHERE tenant_id = %s AND trace_id = %s ORDER BY start_time, id"
)
SELECT_LOGS = (
    f"SELECT {_cols(rows.LOG_COLUMNS)} FROM logs"
    " WHERE tenant_id = %s AND trace_id = %s ORDER BY `timestamp`, id"
)
