"""otelctx.config: defaults, parsing, one-line errors, the production guard, secret masking.

Every test feeds ``load`` a plain dict: config never reads ``os.environ`` itself.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from otelctx.config import (
    ConfigError,
    Settings,
    describe,
    load,
    parse_duration,
    scrub_dsn,
    startup_warnings,
)

PG = {"DB_DRIVER": "postgres", "DB_DSN": "postgres://u:secret@h/db"}
KEYED = {"API_KEY": "k3y-0123456789"}  # authentication on: no "unauthenticated" warning

# (variable, settings field, default value)
DEFAULTS: list[tuple[str, str, Any]] = [
    ("APP_ENV", "app_env", "development"),
    ("OTELCONTEXT_ALLOW_SQLITE_PROD", "allow_sqlite_prod", False),
    ("LOG_LEVEL", "log_level", "INFO"),
    ("LISTEN_HOST", "listen_host", "0.0.0.0"),
    ("HTTP_PORT", "http_port", 8080),
    ("GRPC_PORT", "grpc_port", 4317),
    ("DB_DRIVER", "db_driver", "sqlite"),
    ("DB_DSN", "db_dsn", "data/otelcontext.db"),
    ("API_KEY", "api_key", ""),
    ("API_TENANT_KEYS_FILE", "api_tenant_keys_file", ""),
    ("API_RATE_LIMIT_RPS", "api_rate_limit_rps", 100),
    ("TRUST_PROXY_HEADERS", "trust_proxy_headers", False),
    ("DB_HEALTH_INTERVAL", "db_health_interval", 5.0),
    ("SQLITE_BUSY_TIMEOUT", "sqlite_busy_timeout", 5.0),
    ("HOT_RETENTION_DAYS", "hot_retention_days", 7),
    ("INGEST_MIN_SEVERITY", "ingest_min_severity", 9),
    ("INGEST_ALLOWED_SERVICES", "ingest_allowed_services", frozenset()),
    ("INGEST_EXCLUDED_SERVICES", "ingest_excluded_services", frozenset()),
    ("DEFAULT_TENANT", "default_tenant", "default"),
    ("OTLP_TRUST_RESOURCE_TENANT", "trust_resource_tenant", False),
    ("METRIC_MAX_CARDINALITY", "metric_max_cardinality", 10_000),
    ("GRPC_MAX_RECV_MB", "grpc_max_recv_mb", 16),
    ("GRPC_MAX_CONCURRENT_STREAMS", "grpc_max_concurrent_streams", 1000),
    ("OTLP_HTTP_MAX_BODY_MB", "http_max_body_mb", 16),
    ("INGEST_QUEUE_MAX_ITEMS", "ingest_queue_max_items", 200_000),
    ("INGEST_QUEUE_MAX_MB", "ingest_queue_max_mb", 256),
    ("WRITER_MAX_BATCH_ITEMS", "writer_max_batch_items", 20_000),
    ("WRITER_LINGER", "writer_linger", 0.05),
    ("INGEST_DECODE_WORKERS", "ingest_decode_workers", 1),
    ("SHUTDOWN_TIMEOUT", "shutdown_timeout", 15.0),
    ("DB_AUTOMIGRATE", "db_automigrate", True),
    ("DB_MAX_OPEN_CONNS", "db_max_open_conns", 50),
    ("DB_MAX_IDLE_CONNS", "db_max_idle_conns", 10),
    ("DB_CONN_MAX_LIFETIME", "db_conn_max_lifetime", 3600.0),
    ("DB_CONNECT_TIMEOUT", "db_connect_timeout", 60.0),
    ("DB_WRITERS", "db_writers", 0),
    ("RETENTION_INTERVAL", "retention_interval", 3600.0),
    ("RETENTION_BATCH_SIZE", "retention_batch_size", 50_000),
    ("RETENTION_BATCH_SLEEP_MS", "retention_batch_sleep_ms", 1),
    ("MAINTENANCE_INTERVAL", "maintenance_interval", 86_400.0),
    ("DLQ_PATH", "dlq_path", "data/dlq"),
    ("DLQ_MAX_FILES", "dlq_max_files", 1000),
    ("DLQ_MAX_DISK_MB", "dlq_max_disk_mb", 500),
    ("DLQ_FULL_POLICY", "dlq_full_policy", "reject"),
    ("DLQ_REPLAY_INTERVAL", "dlq_replay_interval", 300.0),
    ("DLQ_MAX_RETRIES", "dlq_max_retries", 10),
    ("DLQ_MAX_REPLAY_PER_TICK", "dlq_max_replay_per_tick", 100),
    ("DASHBOARD_P99_ROW_CAP", "dashboard_p99_row_cap", 200_000),
    ("GRAPHRAG_WORKER_COUNT", "graphrag_worker_count", 4),
    ("GRAPHRAG_EVENT_QUEUE_SIZE", "graphrag_event_queue_size", 10_000),
    ("GRAPHRAG_TRACE_TTL", "graphrag_trace_ttl", 3600.0),
    ("GRAPHRAG_INVESTIGATION_COOLDOWN", "graphrag_investigation_cooldown", 300.0),
    ("GRAPHRAG_ANOMALY_INTERVAL", "graphrag_anomaly_interval", 10.0),
    ("GRAPHRAG_REFRESH_INTERVAL", "graphrag_refresh_interval", 60.0),
    ("GRAPHRAG_SNAPSHOT_INTERVAL", "graphrag_snapshot_interval", 900.0),
    ("GRAPHRAG_MAX_SERVICES", "graphrag_max_services", 1000),
    ("GRAPHRAG_MAX_OPERATIONS", "graphrag_max_operations", 10_000),
    ("GRAPHRAG_MAX_SPANS", "graphrag_max_spans", 200_000),
    ("GRAPHRAG_MAX_LOG_CLUSTERS", "graphrag_max_log_clusters", 10_000),
    ("GRAPHRAG_MAX_METRICS", "graphrag_max_metrics", 2000),
    ("GRAPHRAG_MAX_TENANTS", "graphrag_max_tenants", 1000),
    ("GRAPHRAG_TENANT_IDLE", "graphrag_tenant_idle", 86_400.0),
]
FIELD = {env: name for env, name, _ in DEFAULTS}

# (variable, raw value, expected field value)
GOOD: list[tuple[str, str, Any]] = [
    ("APP_ENV", "Staging", "staging"),
    ("APP_ENV", " production ", "production"),
    ("OTELCONTEXT_ALLOW_SQLITE_PROD", "yes", True),
    ("LOG_LEVEL", "debug", "DEBUG"),
    ("LOG_LEVEL", "Warning", "WARN"),
    ("LOG_LEVEL", "WARN", "WARN"),
    ("LOG_LEVEL", "error", "ERROR"),
    ("LISTEN_HOST", "127.0.0.1", "127.0.0.1"),
    ("LISTEN_HOST", "::", "::"),
    ("HTTP_PORT", "1", 1),
    ("HTTP_PORT", "65535", 65535),
    ("GRPC_PORT", "14317", 14317),
    ("DB_DRIVER", "SQLite", "sqlite"),
    ("DB_DSN", "/var/lib/otelctx/db.sqlite", "/var/lib/otelctx/db.sqlite"),
    ("DB_DSN", ":memory:", ":memory:"),
    ("API_KEY", "k3y-0123456789", "k3y-0123456789"),
    ("API_RATE_LIMIT_RPS", "0", 0),
    ("API_RATE_LIMIT_RPS", "1000000", 1_000_000),
    ("TRUST_PROXY_HEADERS", "yes", True),
    ("DB_HEALTH_INTERVAL", "100ms", 0.1),
    ("DB_HEALTH_INTERVAL", "1h", 3600.0),
    ("SQLITE_BUSY_TIMEOUT", "1s", 1.0),
    ("SQLITE_BUSY_TIMEOUT", "10m", 600.0),
    ("HOT_RETENTION_DAYS", "1", 1),
    ("HOT_RETENTION_DAYS", "36500", 36500),
    ("INGEST_MIN_SEVERITY", "trace", 1),
    ("INGEST_MIN_SEVERITY", "DEBUG", 5),
    ("INGEST_MIN_SEVERITY", "warn", 13),
    ("INGEST_MIN_SEVERITY", "WARNING", 13),
    ("INGEST_MIN_SEVERITY", "Error", 17),
    ("INGEST_MIN_SEVERITY", "fatal", 21),
    ("INGEST_MIN_SEVERITY", "1", 1),
    ("INGEST_MIN_SEVERITY", "24", 24),
    ("INGEST_ALLOWED_SERVICES", " checkout, cart ,,", frozenset({"checkout", "cart"})),
    ("INGEST_ALLOWED_SERVICES", ",", frozenset()),
    ("INGEST_EXCLUDED_SERVICES", "noisy", frozenset({"noisy"})),
    ("DEFAULT_TENANT", "  acme corp  ", "acme corp"),
    ("DEFAULT_TENANT", "t" * 128, "t" * 128),
    ("DEFAULT_TENANT", "Zürich-东京", "Zürich-东京"),
    ("OTLP_TRUST_RESOURCE_TENANT", "TRUE", True),
    ("OTLP_TRUST_RESOURCE_TENANT", "off", False),
    ("METRIC_MAX_CARDINALITY", "0", 0),
    ("METRIC_MAX_CARDINALITY", "10000000", 10_000_000),
    ("GRPC_MAX_RECV_MB", "256", 256),
    ("GRPC_MAX_CONCURRENT_STREAMS", "1", 1),
    ("GRPC_MAX_CONCURRENT_STREAMS", "1000000", 1_000_000),
    ("OTLP_HTTP_MAX_BODY_MB", "64", 64),
    ("INGEST_QUEUE_MAX_ITEMS", "1000", 1000),
    ("INGEST_QUEUE_MAX_ITEMS", "10000000", 10_000_000),
    ("INGEST_QUEUE_MAX_MB", "16384", 16384),
    ("WRITER_MAX_BATCH_ITEMS", "100", 100),
    ("WRITER_MAX_BATCH_ITEMS", "1000000", 1_000_000),
    ("WRITER_LINGER", "0", 0.0),
    ("WRITER_LINGER", "250ms", 0.25),
    ("WRITER_LINGER", "1s", 1.0),
    ("INGEST_DECODE_WORKERS", "0", 0),
    ("INGEST_DECODE_WORKERS", "64", 64),
    ("SHUTDOWN_TIMEOUT", "1s", 1.0),
    ("SHUTDOWN_TIMEOUT", "1h", 3600.0),
    ("DB_AUTOMIGRATE", "off", False),
    ("DB_MAX_OPEN_CONNS", "1", 1),
    ("DB_MAX_IDLE_CONNS", "0", 0),
    ("DB_CONN_MAX_LIFETIME", "30m", 1800.0),
    ("DB_CONNECT_TIMEOUT", "5s", 5.0),
    ("DB_WRITERS", "3", 3),
    ("RETENTION_INTERVAL", "1m", 60.0),
    ("RETENTION_BATCH_SIZE", "1", 1),
    ("RETENTION_BATCH_SLEEP_MS", "0", 0),
    ("MAINTENANCE_INTERVAL", "1h", 3600.0),
    ("DLQ_PATH", "/var/lib/otelctx/dlq", "/var/lib/otelctx/dlq"),
    ("DLQ_MAX_FILES", "0", 0),
    ("DLQ_MAX_DISK_MB", "0", 0),
    ("DLQ_FULL_POLICY", "EVICT_OLDEST", "evict_oldest"),
    ("DLQ_REPLAY_INTERVAL", "10s", 10.0),
    ("DLQ_MAX_RETRIES", "0", 0),
    ("DLQ_MAX_REPLAY_PER_TICK", "5", 5),
    ("DASHBOARD_P99_ROW_CAP", "1000", 1000),
    ("DASHBOARD_P99_ROW_CAP", "100000000", 100_000_000),
    ("SHUTDOWN_TIMEOUT", "1m30s", 90.0),
    ("SHUTDOWN_TIMEOUT", "30", 30.0),
    ("GRAPHRAG_WORKER_COUNT", "1", 1),
    ("GRAPHRAG_WORKER_COUNT", "64", 64),
    ("GRAPHRAG_EVENT_QUEUE_SIZE", "1", 1),
    ("GRAPHRAG_EVENT_QUEUE_SIZE", "100000", 100_000),
    ("GRAPHRAG_TRACE_TTL", "1m", 60.0),
    ("GRAPHRAG_TRACE_TTL", "24h", 86_400.0),
    ("GRAPHRAG_INVESTIGATION_COOLDOWN", "1s", 1.0),
    ("GRAPHRAG_ANOMALY_INTERVAL", "50ms", 0.05),
    ("GRAPHRAG_REFRESH_INTERVAL", "200ms", 0.2),
    ("GRAPHRAG_SNAPSHOT_INTERVAL", "24h", 86_400.0),
    ("GRAPHRAG_MAX_SERVICES", "1", 1),
    ("GRAPHRAG_MAX_OPERATIONS", "10000000", 10_000_000),
    ("GRAPHRAG_MAX_SPANS", "100", 100),
    ("GRAPHRAG_MAX_LOG_CLUSTERS", "1000000", 1_000_000),
    ("GRAPHRAG_MAX_METRICS", "1", 1),
    ("GRAPHRAG_MAX_TENANTS", "1000000", 1_000_000),
    ("GRAPHRAG_TENANT_IDLE", "30m", 1800.0),
]

# (variable, raw value, fragments the one-line message must contain besides the variable name)
BAD: list[tuple[str, str, tuple[str, ...]]] = [
    ("OTELCONTEXT_ALLOW_SQLITE_PROD", "maybe", ("maybe", "true", "false")),
    ("OTELCONTEXT_ALLOW_SQLITE_PROD", "t", ("1|true|yes|on|0|false|no|off",)),
    ("LOG_LEVEL", "verbose", ("verbose", "DEBUG|INFO|WARN|WARNING|ERROR")),
    ("LOG_LEVEL", "TRACE", ("DEBUG|INFO|WARN|WARNING|ERROR",)),
    ("LISTEN_HOST", "local host", ("host",)),
    ("HTTP_PORT", "0", ("1..65535",)),
    ("HTTP_PORT", "65536", ("1..65535",)),
    ("HTTP_PORT", "-1", ("1..65535",)),
    ("HTTP_PORT", "80abc", ("integer", "1..65535")),
    ("HTTP_PORT", "8e3", ("integer", "1..65535")),
    ("HTTP_PORT", "8_080", ("integer", "1..65535")),
    ("HTTP_PORT", "+8080", ("integer", "1..65535")),
    ("HTTP_PORT", "８０８０", ("integer", "1..65535")),  # noqa: RUF001 - full-width digits
    ("GRPC_PORT", "0", ("1..65535",)),
    ("GRPC_PORT", "70000", ("1..65535",)),
    ("GRPC_PORT", "4317.0", ("integer", "1..65535")),
    ("DB_DRIVER", "mssql", ("mssql", "sqlite|postgres|postgresql|mysql|mariadb")),
    ("DB_DRIVER", "oracle", ("sqlite|postgres|postgresql|mysql|mariadb",)),
    ("DB_DSN", "db\x00.sqlite", ("control character",)),
    ("API_KEY", "abc\x07def", ("control character",)),
    ("API_TENANT_KEYS_FILE", "keys\x00.txt", ("control character",)),
    ("API_RATE_LIMIT_RPS", "-1", ("0..1000000",)),
    ("API_RATE_LIMIT_RPS", "1000001", ("0..1000000",)),
    ("API_RATE_LIMIT_RPS", "2.5", ("integer", "0..1000000")),
    ("TRUST_PROXY_HEADERS", "maybe", ("1|true|yes|on|0|false|no|off",)),
    ("DB_HEALTH_INTERVAL", "10ms", ("0.1s..3600s",)),
    ("DB_HEALTH_INTERVAL", "2h", ("0.1s..3600s",)),
    ("SQLITE_BUSY_TIMEOUT", "0s", ("0.1s..600s",)),
    ("SQLITE_BUSY_TIMEOUT", "11m", ("0.1s..600s",)),
    ("HOT_RETENTION_DAYS", "0", ("1..36500",)),
    ("DASHBOARD_P99_ROW_CAP", "999", ("1000..100000000",)),
    ("DASHBOARD_P99_ROW_CAP", "100000001", ("1000..100000000",)),
    ("HOT_RETENTION_DAYS", "36501", ("1..36500",)),
    ("HOT_RETENTION_DAYS", "seven", ("integer", "1..36500")),
    ("INGEST_MIN_SEVERITY", "0", ("1..24", "TRACE|DEBUG|INFO")),
    ("INGEST_MIN_SEVERITY", "25", ("1..24",)),
    ("INGEST_MIN_SEVERITY", "NOTICE", ("1..24", "FATAL")),
    ("DEFAULT_TENANT", "t" * 129, ("1..128", "too long")),
    ("DEFAULT_TENANT", "acme\x00", ("1..128", "control character")),
    ("DEFAULT_TENANT", "ac\nme", ("1..128", "control character")),
    ("DEFAULT_TENANT", "ac\x7fme", ("1..128", "control character")),
    ("DEFAULT_TENANT", "ac\u200bme", ("1..128", "control character")),  # Cf: zero-width space
    ("OTLP_TRUST_RESOURCE_TENANT", "enabled", ("1|true|yes|on|0|false|no|off",)),
    ("METRIC_MAX_CARDINALITY", "-1", ("0..10000000",)),
    ("METRIC_MAX_CARDINALITY", "10000001", ("0..10000000",)),
    ("METRIC_MAX_CARDINALITY", "1e4", ("integer", "0..10000000")),
    ("GRPC_MAX_RECV_MB", "0", ("1..256",)),
    ("GRPC_MAX_RECV_MB", "999", ("1..256",)),
    ("GRPC_MAX_RECV_MB", "16MB", ("integer", "1..256")),
    ("GRPC_MAX_CONCURRENT_STREAMS", "0", ("1..1000000",)),
    ("GRPC_MAX_CONCURRENT_STREAMS", "1000001", ("1..1000000",)),
    ("OTLP_HTTP_MAX_BODY_MB", "0", ("1..256",)),
    ("OTLP_HTTP_MAX_BODY_MB", "257", ("1..256",)),
    ("INGEST_QUEUE_MAX_ITEMS", "999", ("1000..10000000",)),
    ("INGEST_QUEUE_MAX_ITEMS", "10000001", ("1000..10000000",)),
    ("INGEST_QUEUE_MAX_MB", "0", ("1..16384",)),
    ("INGEST_QUEUE_MAX_MB", "16385", ("1..16384",)),
    ("WRITER_MAX_BATCH_ITEMS", "99", ("100..1000000",)),
    ("WRITER_MAX_BATCH_ITEMS", "1000001", ("100..1000000",)),
    ("WRITER_MAX_BATCH_ITEMS", "lots", ("integer", "100..1000000")),
    ("WRITER_LINGER", "2s", ("0s..1s",)),
    ("WRITER_LINGER", "-1ms", ("0s..1s",)),
    ("INGEST_DECODE_WORKERS", "65", ("0..64",)),
    ("INGEST_DECODE_WORKERS", "-1", ("0..64",)),
    ("SHUTDOWN_TIMEOUT", "500ms", ("1s..3600s",)),
    ("SHUTDOWN_TIMEOUT", "2h", ("1s..3600s",)),
    ("SHUTDOWN_TIMEOUT", "-5s", ("duration", "1s..3600s")),
    ("SHUTDOWN_TIMEOUT", "soon", ("duration", "1s..3600s")),
    ("GRAPHRAG_WORKER_COUNT", "0", ("1..64",)),
    ("GRAPHRAG_EVENT_QUEUE_SIZE", "0", ("1..10000000",)),
    ("GRAPHRAG_EVENT_QUEUE_SIZE", "-5", ("1..10000000",)),
    ("GRAPHRAG_TRACE_TTL", "30s", ("60s..86400s",)),
    ("GRAPHRAG_ANOMALY_INTERVAL", "0", ("0.05s..3600s",)),
    ("GRAPHRAG_MAX_SPANS", "99", ("100..100000000",)),
    ("GRAPHRAG_TENANT_IDLE", "forever", ("duration", "60s..2592000s")),
]


def test_every_setting_is_covered_by_the_tables() -> None:
    # api_tenant_keys is loaded from the file API_TENANT_KEYS_FILE names (test_auth.py)
    fields = {f.name for f in dataclasses.fields(Settings)} - {"api_tenant_keys"}
    assert {name for _, name, _ in DEFAULTS} == fields
    assert [env for env, _ in describe(Settings())] == [env for env, _, _ in DEFAULTS]
    # a good API_TENANT_KEYS_FILE needs a file: see tests/unit/test_auth.py
    assert {env for env, _, _ in GOOD} == set(FIELD) - {"API_TENANT_KEYS_FILE"}


def test_empty_environment_is_the_default_settings() -> None:
    assert load({}) == Settings()


@pytest.mark.parametrize(("env", "name", "default"), DEFAULTS)
def test_default(env: str, name: str, default: Any) -> None:
    assert getattr(load({}), name) == default
    # Empty or blank counts as unset.
    assert getattr(load({env: ""}), name) == default
    assert getattr(load({env: "  "}), name) == default


@pytest.mark.parametrize(("env", "raw", "expected"), GOOD)
def test_good_value(env: str, raw: str, expected: Any) -> None:
    # On postgres so that APP_ENV=production is accepted too.
    environ = {env: raw} if env.startswith("DB_") else {**PG, env: raw}
    assert getattr(load(environ), FIELD[env]) == expected


@pytest.mark.parametrize(("env", "raw", "fragments"), BAD)
def test_bad_value_is_a_one_line_error(env: str, raw: str, fragments: tuple[str, ...]) -> None:
    environ = {env: raw} if env.startswith("DB_") else {**PG, env: raw}
    with pytest.raises(ConfigError) as caught:
        load(environ)
    message = str(caught.value)
    assert message.startswith(f"{env}=")
    assert "\n" not in message
    assert "must be" in message
    for fragment in fragments:
        assert fragment in message
    assert "secret" not in message


def test_bad_secret_values_are_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        load({"DB_DRIVER": "postgres", "DB_DSN": "postgres://u:secret@h/d\x01b"})
    assert "secret" not in str(caught.value)
    assert "DB_DSN" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load({"API_KEY": "topsecret\x00"})
    assert "topsecret" not in str(caught.value)
    assert str(caught.value).startswith("API_KEY=")


def test_long_values_are_cut_in_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        load({"DEFAULT_TENANT": "t" * 5000})
    assert len(str(caught.value)) < 200
    assert "5000 characters" in str(caught.value)


def test_first_bad_value_in_table_order_wins() -> None:
    with pytest.raises(ConfigError, match=r"^HTTP_PORT="):
        load({"GRPC_PORT": "0", "HTTP_PORT": "0", "SHUTDOWN_TIMEOUT": "never"})
    # A per-variable error comes before the cross-variable DB_DSN rule.
    with pytest.raises(ConfigError, match=r"^SHUTDOWN_TIMEOUT="):
        load({"DB_DRIVER": "postgres", "SHUTDOWN_TIMEOUT": "never"})


@pytest.mark.parametrize(
    ("driver", "canonical"),
    [
        ("postgres", "postgres"),
        ("PostgreSQL", "postgres"),
        ("mysql", "mysql"),
        ("MariaDB", "mysql"),
    ],
)
def test_server_databases_need_a_dsn(driver: str, canonical: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load({"DB_DRIVER": driver})
    assert str(caught.value).startswith(f"DB_DSN is required when DB_DRIVER={canonical}")
    assert "\n" not in str(caught.value)
    settings = load({"DB_DRIVER": driver, "DB_DSN": "x://u:p@h/db"})
    assert settings.db_driver == canonical
    assert settings.db_dsn == "x://u:p@h/db"


class TestProductionGuard:
    def test_sqlite_in_production_is_refused(self) -> None:
        with pytest.raises(ConfigError) as caught:
            load({"APP_ENV": "Production"})
        message = str(caught.value)
        assert "\n" not in message
        assert "DB_DRIVER=sqlite is refused when APP_ENV=production" in message
        assert "DB_DRIVER=postgres" in message
        assert "OTELCONTEXT_ALLOW_SQLITE_PROD=true" in message

    def test_opt_in_allows_sqlite_with_a_strong_warning(self) -> None:
        settings = load(
            {"APP_ENV": "production", "OTELCONTEXT_ALLOW_SQLITE_PROD": "on", **KEYED}
        )
        assert settings.is_production
        assert settings.db_driver == "sqlite"
        warnings = startup_warnings(settings)
        assert len(warnings) == 1
        assert "production" in warnings[0]
        assert "\n" not in warnings[0]

    def test_explicit_false_opt_in_still_refuses(self) -> None:
        with pytest.raises(ConfigError):
            load({"APP_ENV": "production", "OTELCONTEXT_ALLOW_SQLITE_PROD": "false"})

    def test_postgres_in_production_is_fine(self) -> None:
        settings = load({"APP_ENV": "production", **PG, **KEYED})
        assert settings.is_production
        assert startup_warnings(settings) == []

    def test_mysql_in_production_is_fine(self) -> None:
        settings = load({"APP_ENV": "production", "DB_DRIVER": "mariadb", "DB_DSN": "m://h/d"})
        assert settings.db_driver == "mysql"


def test_development_sqlite_warning() -> None:
    assert startup_warnings(load(KEYED)) == [
        "SQLite storage: fine for development and small setups (~5 services); "
        "use PostgreSQL for production",
    ]
    assert startup_warnings(load({**PG, **KEYED})) == []


def test_unusual_app_env_warns_that_safeguards_are_off() -> None:
    warnings = startup_warnings(load({"APP_ENV": "prod", **PG, **KEYED}))
    assert len(warnings) == 1
    assert "'prod'" in warnings[0]


def test_byte_limits() -> None:
    settings = load(
        {"GRPC_MAX_RECV_MB": "4", "OTLP_HTTP_MAX_BODY_MB": "8", "INGEST_QUEUE_MAX_MB": "1"},
    )
    assert settings.grpc_max_recv_bytes == 4 * 1024 * 1024
    assert settings.http_max_body_bytes == 8 * 1024 * 1024
    assert settings.ingest_queue_max_bytes == 1024 * 1024


def test_settings_is_frozen_and_repr_hides_secrets() -> None:
    settings = dataclasses.replace(load(PG), api_key="hunter2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.http_port = 1  # type: ignore[misc]
    assert "secret" not in repr(settings)
    assert "hunter2" not in repr(settings)


# --- describe / scrub_dsn ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("postgres://u:secret@h/db", "postgres://u:REDACTED@h/db"),
        (
            "postgresql://u:secret@h:5432/db?sslmode=require",
            "postgresql://u:REDACTED@h:5432/db?sslmode=require",
        ),
        ("host=h password=secret dbname=x", "host=h password=REDACTED dbname=x"),
        ("host=h PASSWORD = 'se cret\\' x' dbname=x", "host=h PASSWORD = REDACTED dbname=x"),
        (
            "postgres://h/db?user=u&password=secret&sslmode=require",
            "postgres://h/db?user=u&password=REDACTED&sslmode=require",
        ),
        (
            "root:secret@tcp(127.0.0.1:3306)/otel?parseTime=true",
            "root:REDACTED@tcp(127.0.0.1:3306)/otel?parseTime=true",
        ),
        ("mysql://u:p%40secret@h/db", "mysql://u:REDACTED@h/db"),
        # Unencoded '@' and '/' inside the password must not leak a piece of it.
        ("postgres://u:se@c/ret@h/db", "postgres://u:REDACTED@h/db"),
        ("postgres://u@h/db", "postgres://u@h/db"),
        ("postgres://h:5432/db", "postgres://h:5432/db"),
        ("data/otelcontext.db", "data/otelcontext.db"),
        ("", ""),
    ],
)
def test_scrub_dsn(dsn: str, expected: str) -> None:
    assert scrub_dsn(dsn) == expected


@given(password=st.text(alphabet=st.characters(codec="utf-8"), min_size=3))
def test_scrub_dsn_never_shows_a_url_password(password: str) -> None:
    dsn = f"postgres://otel:{password}@db.internal:5432/otelcontext?sslmode=require"
    assume(password not in dsn.replace(password, "", 1))
    assert password not in scrub_dsn(dsn)


@given(
    password=st.text(
        alphabet=st.characters(codec="ascii", exclude_categories=("Cc", "Zs")), min_size=3
    ).filter(lambda p: not p.startswith("'"))
)
def test_scrub_dsn_never_shows_a_keyword_password(password: str) -> None:
    dsn = f"host=db.internal port=5432 password={password} dbname=otelcontext"
    assume(password not in dsn.replace(password, "", 1))
    assert password not in scrub_dsn(dsn)


def test_scrub_dsn_with_a_url_inside_a_keyword_password() -> None:
    dsn = "host=db port=5432 password=a://b@c dbname=x"
    assert scrub_dsn(dsn) == "host=db port=5432 password=REDACTED dbname=x"


def test_describe_masks_secrets() -> None:
    shown = dict(describe(dataclasses.replace(load(PG), api_key="hunter2")))
    assert shown["DB_DSN"] == "postgres://u:REDACTED@h/db"
    assert shown["API_KEY"] == "********"
    kv = dict(
        describe(load({"DB_DRIVER": "postgres", "DB_DSN": "host=h password=secret dbname=x"}))
    )
    assert kv["DB_DSN"] == "host=h password=REDACTED dbname=x"
    assert dict(describe(Settings()))["API_KEY"] == ""
    assert not any("secret" in value or "hunter2" in value for value in shown.values())


def test_describe_values_read_back_to_the_same_settings() -> None:
    settings = load(
        {
            "APP_ENV": "staging",
            "LOG_LEVEL": "warning",
            "INGEST_MIN_SEVERITY": "10",
            "INGEST_EXCLUDED_SERVICES": "b,a",
            "OTLP_TRUST_RESOURCE_TENANT": "1",
            "SHUTDOWN_TIMEOUT": "1.5",
        },
    )
    shown = describe(settings)
    assert dict(shown)["SHUTDOWN_TIMEOUT"] == "1.5s"
    assert dict(shown)["INGEST_MIN_SEVERITY"] == "10"
    assert load(dict(shown)) == settings
    assert dict(describe(Settings()))["INGEST_MIN_SEVERITY"] == "INFO"


# --- parse_duration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("10s", 10.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("1m30.5s", 90.5),
        ("10", 10.0),
        ("0.25", 0.25),
        ("0", 0.0),
        (".5s", 0.5),
        ("250us", 0.00025),
        ("250µs", 0.00025),
        ("1ns", 1e-9),
        (" 15s ", 15.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert math.isclose(parse_duration(text), seconds, rel_tol=1e-12)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "-5s",
        "-1",
        "+5s",
        "1e3",
        "abc",
        "1h 30m",
        "1H",
        "1h30",
        "s",
        "1.2.3s",
        "5d",
        "nan",
        "inf",
        "1" * 400 + "h",
    ],
)
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_unauthenticated_setup_warns_once() -> None:
    warnings = [w for w in startup_warnings(load(PG)) if "unauthenticated" in w]
    assert len(warnings) == 1
    assert "API_KEY" in warnings[0] and "API_TENANT_KEYS_FILE" in warnings[0]
    assert not [w for w in startup_warnings(load({**PG, **KEYED})) if "unauthenticated" in w]


def test_api_key_is_accepted_and_never_shown() -> None:
    settings = load({"API_KEY": "hunter2"})
    assert settings.api_key == "hunter2"
    assert "hunter2" not in repr(settings)
    assert dict(describe(settings))["API_KEY"] == "********"
