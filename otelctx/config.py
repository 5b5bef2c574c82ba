"""Settings: every environment variable otelctx reads, parsed and validated in one place.

This module is the only reader of configuration. It is pure (stdlib, plus the tenant rule of
``otelctx.tenants`` and the key file format of ``otelctx.auth``) and never touches
``os.environ`` itself: callers pass a mapping, so tests and ``otelctx check-config`` see
exactly what ``serve`` would. The one file it reads is ``API_TENANT_KEYS_FILE``, so that a
bad key file stops the server at start like any other bad setting.

Contract of :func:`load`:

- Variable names are the original OtelContext ones, plus new ones where needed.
- An unset variable, or one that is empty or only whitespace, takes its default. Values are
  trimmed of surrounding whitespace before parsing (a ``.env`` file or a mounted secret often
  carries a trailing space or newline).
- Every other value must be valid. Unlike the original, a bad value is never replaced by the
  default: :func:`load` raises :class:`ConfigError` for the first bad value, checking the
  variables in the order of ``_VARS`` and then the cross-variable rules. ``str(error)`` is one
  line naming the variable, the offending value (secrets masked) and what is allowed; the CLI
  prints it and exits with status 2.

Secrets (``DB_DSN`` passwords, ``API_KEY``, the keys of ``API_TENANT_KEYS_FILE``) never
appear in error messages, in :func:`describe`, or in ``repr(Settings)``; of the key file only
its path and the number of keys are ever shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from otelctx.auth import KeyEntry, KeyFileError, digest, parse_key_file
from otelctx.tenants import MAX_TENANT_LEN, TENANT_RULE, forbidden_char

__all__ = [
    "ConfigError",
    "Settings",
    "describe",
    "key_file_summary",
    "load",
    "parse_duration",
    "scrub_dsn",
    "startup_warnings",
]

_MIB = 1024 * 1024
_REDACTED = "REDACTED"
_MASKED_KEY = "********"
# A key file is a few lines per tenant; anything this large is the wrong file.
_KEY_FILE_MAX_BYTES = 16 * _MIB


class ConfigError(Exception):
    """An environment variable has a bad value; ``str(error)`` is a one-line message for users."""


@dataclass(frozen=True, slots=True)
class Settings:
    """The resolved configuration. ``Settings()`` is a valid development configuration."""

    app_env: str = "development"
    allow_sqlite_prod: bool = False
    log_level: str = "INFO"
    listen_host: str = "0.0.0.0"
    http_port: int = 8080
    grpc_port: int = 4317
    db_driver: str = "sqlite"
    # repr=False: a logged or printed Settings must not carry the DSN password or the API key.
    db_dsn: str = field(default="data/otelcontext.db", repr=False)
    api_key: str = field(default="", repr=False)
    api_tenant_keys_file: str = ""
    # Loaded from api_tenant_keys_file by load(): digests and tenants, never the keys.
    api_tenant_keys: tuple[KeyEntry, ...] = field(default=(), repr=False)
    api_rate_limit_rps: int = 100
    trust_proxy_headers: bool = False
    db_health_interval: float = 5.0
    # SQLite: how long a statement waits for a lock held elsewhere before the commit counts
    # as an unavailable database (its batch goes to the DLQ)
    sqlite_busy_timeout: float = 5.0
    hot_retention_days: int = 7
    ingest_min_severity: int = 9
    ingest_allowed_services: frozenset[str] = frozenset()
    ingest_excluded_services: frozenset[str] = frozenset()
    default_tenant: str = "default"
    trust_resource_tenant: bool = False
    metric_max_cardinality: int = 10_000
    grpc_max_recv_mb: int = 16
    grpc_max_concurrent_streams: int = 1000
    http_max_body_mb: int = 16
    ingest_queue_max_items: int = 200_000
    ingest_queue_max_mb: int = 256
    writer_max_batch_items: int = 20_000
    writer_linger: float = 0.05
    ingest_decode_workers: int = 1
    shutdown_timeout: float = 15.0
    db_automigrate: bool = True
    db_max_open_conns: int = 50
    db_max_idle_conns: int = 10
    db_conn_max_lifetime: float = 3600.0
    db_connect_timeout: float = 60.0
    db_writers: int = 0
    retention_interval: float = 3600.0
    retention_batch_size: int = 50_000
    retention_batch_sleep_ms: int = 1
    maintenance_interval: float = 86_400.0
    dlq_path: str = "data/dlq"
    dlq_max_files: int = 1000
    dlq_max_disk_mb: int = 500
    dlq_full_policy: str = "reject"
    dlq_replay_interval: float = 300.0
    dlq_max_retries: int = 10
    dlq_max_replay_per_tick: int = 100
    dashboard_p99_row_cap: int = 200_000
    graphrag_worker_count: int = 4
    graphrag_event_queue_size: int = 10_000
    graphrag_trace_ttl: float = 3600.0
    graphrag_investigation_cooldown: float = 300.0
    graphrag_anomaly_interval: float = 10.0
    graphrag_refresh_interval: float = 60.0
    graphrag_snapshot_interval: float = 900.0
    graphrag_max_services: int = 1000
    graphrag_max_operations: int = 10_000
    graphrag_max_spans: int = 200_000
    graphrag_max_log_clusters: int = 10_000
    graphrag_max_metrics: int = 2000
    graphrag_max_tenants: int = 1000
    graphrag_tenant_idle: float = 86_400.0

    @property
    def dlq_max_bytes(self) -> int:
        return self.dlq_max_disk_mb * 1024 * 1024

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def grpc_max_recv_bytes(self) -> int:
        return self.grpc_max_recv_mb * _MIB

    @property
    def http_max_body_bytes(self) -> int:
        return self.http_max_body_mb * _MIB

    @property
    def ingest_queue_max_bytes(self) -> int:
        return self.ingest_queue_max_mb * _MIB


# ---------------------------------------------------------------------------------------------
# Durations


_DURATION_UNITS: dict[str, Decimal] = {
    "ns": Decimal("1e-9"),
    "us": Decimal("1e-6"),
    "\u00b5s": Decimal("1e-6"),  # MICRO SIGN, as Go accepts
    "\u03bcs": Decimal("1e-6"),  # GREEK SMALL LETTER MU, as Go accepts
    "ms": Decimal("1e-3"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
}
_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
# Longer units first so that "ms" is never read as "m" followed by garbage.
_UNIT = "|".join(sorted(map(re.escape, _DURATION_UNITS), key=len, reverse=True))
_DURATION_PART = re.compile(rf"({_NUMBER})({_UNIT})")
_DURATION_FULL = re.compile(rf"(?:{_NUMBER}(?:{_UNIT}))+")
_BARE_NUMBER = re.compile(_NUMBER)


def parse_duration(text: str) -> float:
    """Parse a Go-style duration into seconds.

    Accepts ``"500ms"``, ``"10s"``, ``"5m"``, ``"1h30m"``, ``"1.5h"`` (units ns, us, µs, ms, s,
    m, h; case-sensitive; no spaces between parts) and a bare non-negative number meaning
    seconds (``"10"``, ``"0.5"``). Surrounding whitespace is ignored.

    Raises ``ValueError`` for anything else: signs (negative durations make no sense for any
    setting), exponents, unknown units, an empty string, or a result too large for a float.
    """
    stripped = text.strip()
    if _BARE_NUMBER.fullmatch(stripped):
        total = Decimal(stripped)
    elif _DURATION_FULL.fullmatch(stripped):
        total = sum(
            (Decimal(m[1]) * _DURATION_UNITS[m[2]] for m in _DURATION_PART.finditer(stripped)),
            Decimal(0),
        )
    else:
        raise ValueError(f"invalid duration {text!r}: expected e.g. 500ms, 15s, 1m30s or 1.5h")
    seconds = float(total)  # saturates to inf rather than raising
    if seconds == float("inf"):
        raise ValueError(f"duration {text!r} is too large")
    return seconds


def _format_seconds(seconds: float) -> str:
    # A form parse_duration reads back to the same float.
    return f"{int(seconds)}s" if seconds.is_integer() else f"{seconds!r}s"


# ---------------------------------------------------------------------------------------------
# DSN scrubbing

# libpq key=value form (and ODBC-style Pwd=): the value is a single-quoted string with
# backslash escapes, or runs to the next whitespace.
_KV_PASSWORD = re.compile(
    r"""(?i)\b((?:ssl)?password|pwd)(\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)""",
)
# URL query parameters (postgres://h/db?password=x&sslmode=require): the value ends at & or #
# (not at ';', which an unencoded password may contain).
_QUERY_PASSWORD = re.compile(r"(?i)([?&;](?:(?:ssl)?password|pwd)=)[^&#]*")


def _scrub_userinfo(text: str) -> str:
    """Mask the password in ``user:password@host...`` (the part after ``scheme://``, or a Go
    MySQL DSN ``user:password@tcp(host:3306)/db``)."""
    # Split at the LAST '@': a password may hold an unencoded '@', '/', '?' or '#', so any
    # earlier cut could print part of it. An '@' in the path or query makes this hide the host
    # too, which is the safe way to be wrong.
    userinfo, at, host = text.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    if not at or not colon:
        return text
    return f"{user}:{_REDACTED}@{host}"


_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


def scrub_dsn(dsn: str) -> str:
    """Return ``dsn`` with every password replaced by ``REDACTED``; everything else is kept.

    Handles URL form (``postgres://user:pass@host/db``, and ``?password=`` query parameters),
    libpq key=value form (``host=h password=secret dbname=x``, quoted values too) and the Go
    MySQL form (``user:pass@tcp(host:3306)/db``). When the shape is ambiguous it masks too much
    rather than too little. Meant for every message that could show a DSN.
    """
    scheme, sep, rest = dsn.partition("://")
    if sep and _URL_SCHEME.fullmatch(scheme):  # not a key=value password holding "://"
        rest = _QUERY_PASSWORD.sub(rf"\g<1>{_REDACTED}", _scrub_userinfo(rest))
        return f"{scheme}{sep}{rest}"
    masked = _KV_PASSWORD.sub(rf"\g<1>\g<2>{_REDACTED}", dsn)
    return _scrub_userinfo(masked) if "@" in masked else masked


# ---------------------------------------------------------------------------------------------
# Value parsers. Each takes the trimmed, non-empty text and returns the field value, or raises
# _Invalid(problem, allowed); load() turns that into "<VAR>=<value> <problem>: <allowed>".


class _Invalid(Exception):
    def __init__(self, problem: str, allowed: str) -> None:
        super().__init__(problem, allowed)
        self.problem = problem
        self.allowed = allowed


Parser = Callable[[str], Any]

_INTEGER = re.compile(r"-?[0-9]+")  # ASCII digits only: int() would also take "1_000", "٣", " +5"


def _integer(low: int, high: int) -> Parser:
    allowed = f"must be an integer in {low}..{high}"

    def parse(text: str) -> int:
        if not _INTEGER.fullmatch(text):
            raise _Invalid("is not an integer", allowed)
        value = int(text)
        if not low <= value <= high:
            raise _Invalid("is out of range", allowed)
        return value

    return parse


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _Invalid("is not a boolean", "must be one of 1|true|yes|on|0|false|no|off")


def _choice(aliases: Mapping[str, str], *, upper: bool = False) -> Parser:
    """Case-insensitive choice among the keys of ``aliases``; returns the canonical value."""
    shown = "|".join(name.upper() if upper else name for name in aliases)
    allowed = f"must be one of {shown} (any case)"

    def parse(text: str) -> str:
        try:
            return aliases[text.lower()]
        except KeyError:
            raise _Invalid("is not a valid choice", allowed) from None

    return parse


def _has_control(text: str) -> bool:
    return forbidden_char(text) is not None


def _app_env(text: str) -> str:
    return text.lower()


def _host(text: str) -> str:
    if _has_control(text) or any(c.isspace() for c in text):
        raise _Invalid("is not a host", "must be a host name or IP address, without spaces")
    return text


def _tenant(text: str) -> str:
    if len(text) > MAX_TENANT_LEN:
        raise _Invalid("is too long", f"must be {TENANT_RULE}")
    if _has_control(text):
        raise _Invalid("contains a control character", f"must be {TENANT_RULE}")
    return text


def _opaque(text: str) -> str:
    # A control character in a DSN or key is a copy/paste or secret-mount accident; it would
    # only surface later as a baffling connection or auth failure.
    if _has_control(text):
        raise _Invalid("contains a control character", "must be printable text")
    return text


def _csv(text: str) -> frozenset[str]:
    return frozenset(item for item in (part.strip() for part in text.split(",")) if item)


# OTLP SeverityNumber at the start of each named range (TRACE = 1..4, DEBUG = 5..8, ...).
_SEVERITY_NUMBERS: dict[str, int] = {
    "TRACE": 1,
    "DEBUG": 5,
    "INFO": 9,
    "WARN": 13,
    "WARNING": 13,
    "ERROR": 17,
    "FATAL": 21,
}
_SEVERITY_NAMES = {number: name for name, number in reversed(_SEVERITY_NUMBERS.items())}
_SEVERITY_ALLOWED = (
    f"must be one of {'|'.join(_SEVERITY_NUMBERS)} (any case) or an integer in 1..24"
)


def _severity(text: str) -> int:
    named = _SEVERITY_NUMBERS.get(text.upper())
    if named is not None:
        return named
    if not _INTEGER.fullmatch(text):
        raise _Invalid("is not a severity", _SEVERITY_ALLOWED)
    number = int(text)
    if not 1 <= number <= 24:
        raise _Invalid("is out of range", _SEVERITY_ALLOWED)
    return number


def _duration(low: float, high: float) -> Parser:
    allowed = (
        f"must be a duration in {_format_seconds(low)}..{_format_seconds(high)}"
        " (e.g. 500ms, 15s, 1m30s; a bare number means seconds)"
    )

    def parse(text: str) -> float:
        try:
            seconds = parse_duration(text)
        except ValueError:
            raise _Invalid("is not a duration", allowed) from None
        if not low <= seconds <= high:
            raise _Invalid("is out of range", allowed)
        return seconds

    return parse


# ---------------------------------------------------------------------------------------------
# Display


def _show_plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, frozenset):
        return ",".join(sorted(value))
    if isinstance(value, float):
        return _format_seconds(value)
    return str(value)


def _show_severity(value: Any) -> str:
    return _SEVERITY_NAMES.get(value, str(value))


def _mask_key(value: Any) -> str:
    return _MASKED_KEY if value else ""


def _quote(text: str) -> str:
    """The raw value as it goes into an error: repr() keeps it on one line; long ones are cut."""
    if len(text) > 40:
        return f"{text[:40]!r}... ({len(text)} characters)"
    return repr(text)


# ---------------------------------------------------------------------------------------------
# The table


@dataclass(frozen=True, slots=True)
class _Var:
    env: str
    attr: str
    parse: Parser
    show: Callable[[Any], str] = _show_plain
    # How the raw text appears in an error message; secrets are masked.
    echo: Callable[[str], str] = _quote


_VARS: tuple[_Var, ...] = (
    _Var("APP_ENV", "app_env", _app_env),
    _Var("OTELCONTEXT_ALLOW_SQLITE_PROD", "allow_sqlite_prod", _boolean),
    _Var(
        "LOG_LEVEL",
        "log_level",
        _choice(
            {"debug": "DEBUG", "info": "INFO", "warn": "WARN", "warning": "WARN", "error": "ERROR"},
            upper=True,
        ),
    ),
    _Var("LISTEN_HOST", "listen_host", _host),
    _Var("HTTP_PORT", "http_port", _integer(1, 65535)),
    _Var("GRPC_PORT", "grpc_port", _integer(1, 65535)),
    _Var(
        "DB_DRIVER",
        "db_driver",
        _choice(
            {
                "sqlite": "sqlite",
                "postgres": "postgres",
                "postgresql": "postgres",
                "mysql": "mysql",
                "mariadb": "mysql",
            },
        ),
    ),
    _Var("DB_DSN", "db_dsn", _opaque, show=scrub_dsn, echo=lambda text: _quote(scrub_dsn(text))),
    _Var("API_KEY", "api_key", _opaque, show=_mask_key, echo=lambda _text: _MASKED_KEY),
    _Var("API_TENANT_KEYS_FILE", "api_tenant_keys_file", _opaque),
    _Var("API_RATE_LIMIT_RPS", "api_rate_limit_rps", _integer(0, 1_000_000)),
    _Var("TRUST_PROXY_HEADERS", "trust_proxy_headers", _boolean),
    _Var("DB_HEALTH_INTERVAL", "db_health_interval", _duration(0.1, 3600.0)),
    _Var("SQLITE_BUSY_TIMEOUT", "sqlite_busy_timeout", _duration(0.1, 600.0)),
    _Var("HOT_RETENTION_DAYS", "hot_retention_days", _integer(1, 36_500)),
    _Var("INGEST_MIN_SEVERITY", "ingest_min_severity", _severity, show=_show_severity),
    _Var("INGEST_ALLOWED_SERVICES", "ingest_allowed_services", _csv),
    _Var("INGEST_EXCLUDED_SERVICES", "ingest_excluded_services", _csv),
    _Var("DEFAULT_TENANT", "default_tenant", _tenant),
    _Var("OTLP_TRUST_RESOURCE_TENANT", "trust_resource_tenant", _boolean),
    _Var("METRIC_MAX_CARDINALITY", "metric_max_cardinality", _integer(0, 10_000_000)),
    _Var("GRPC_MAX_RECV_MB", "grpc_max_recv_mb", _integer(1, 256)),
    _Var("GRPC_MAX_CONCURRENT_STREAMS", "grpc_max_concurrent_streams", _integer(1, 1_000_000)),
    _Var("OTLP_HTTP_MAX_BODY_MB", "http_max_body_mb", _integer(1, 256)),
    _Var("INGEST_QUEUE_MAX_ITEMS", "ingest_queue_max_items", _integer(1000, 10_000_000)),
    _Var("INGEST_QUEUE_MAX_MB", "ingest_queue_max_mb", _integer(1, 16_384)),
    _Var("WRITER_MAX_BATCH_ITEMS", "writer_max_batch_items", _integer(100, 1_000_000)),
    _Var("WRITER_LINGER", "writer_linger", _duration(0.0, 1.0)),
    _Var("INGEST_DECODE_WORKERS", "ingest_decode_workers", _integer(0, 64)),
    _Var("SHUTDOWN_TIMEOUT", "shutdown_timeout", _duration(1.0, 3600.0)),
    _Var("DB_AUTOMIGRATE", "db_automigrate", _boolean),
    _Var("DB_MAX_OPEN_CONNS", "db_max_open_conns", _integer(1, 10_000)),
    _Var("DB_MAX_IDLE_CONNS", "db_max_idle_conns", _integer(0, 10_000)),
    _Var("DB_CONN_MAX_LIFETIME", "db_conn_max_lifetime", _duration(1.0, 86_400.0)),
    _Var("DB_CONNECT_TIMEOUT", "db_connect_timeout", _duration(1.0, 3600.0)),
    _Var("DB_WRITERS", "db_writers", _integer(0, 32)),
    _Var("RETENTION_INTERVAL", "retention_interval", _duration(60.0, 86_400.0)),
    _Var("RETENTION_BATCH_SIZE", "retention_batch_size", _integer(1, 10_000_000)),
    _Var("RETENTION_BATCH_SLEEP_MS", "retention_batch_sleep_ms", _integer(0, 60_000)),
    _Var("MAINTENANCE_INTERVAL", "maintenance_interval", _duration(3600.0, 30 * 86_400.0)),
    _Var("DLQ_PATH", "dlq_path", _opaque),
    _Var("DLQ_MAX_FILES", "dlq_max_files", _integer(0, 10_000_000)),
    _Var("DLQ_MAX_DISK_MB", "dlq_max_disk_mb", _integer(0, 10_000_000)),
    _Var(
        "DLQ_FULL_POLICY",
        "dlq_full_policy",
        _choice({"reject": "reject", "evict_oldest": "evict_oldest"}),
    ),
    _Var("DLQ_REPLAY_INTERVAL", "dlq_replay_interval", _duration(1.0, 86_400.0)),
    _Var("DLQ_MAX_RETRIES", "dlq_max_retries", _integer(0, 1_000_000)),
    _Var("DLQ_MAX_REPLAY_PER_TICK", "dlq_max_replay_per_tick", _integer(1, 100_000)),
    _Var("DASHBOARD_P99_ROW_CAP", "dashboard_p99_row_cap", _integer(1000, 100_000_000)),
    _Var("GRAPHRAG_WORKER_COUNT", "graphrag_worker_count", _integer(1, 64)),
    _Var("GRAPHRAG_EVENT_QUEUE_SIZE", "graphrag_event_queue_size", _integer(1, 10_000_000)),
    _Var("GRAPHRAG_TRACE_TTL", "graphrag_trace_ttl", _duration(60.0, 86_400.0)),
    _Var(
        "GRAPHRAG_INVESTIGATION_COOLDOWN",
        "graphrag_investigation_cooldown",
        _duration(1.0, 86_400.0),
    ),
    # The loop intervals go down to 50 ms so that end-to-end tests need not wait.
    _Var("GRAPHRAG_ANOMALY_INTERVAL", "graphrag_anomaly_interval", _duration(0.05, 3600.0)),
    _Var("GRAPHRAG_REFRESH_INTERVAL", "graphrag_refresh_interval", _duration(0.05, 3600.0)),
    _Var("GRAPHRAG_SNAPSHOT_INTERVAL", "graphrag_snapshot_interval", _duration(0.05, 86_400.0)),
    _Var("GRAPHRAG_MAX_SERVICES", "graphrag_max_services", _integer(1, 1_000_000)),
    _Var("GRAPHRAG_MAX_OPERATIONS", "graphrag_max_operations", _integer(1, 10_000_000)),
    _Var("GRAPHRAG_MAX_SPANS", "graphrag_max_spans", _integer(100, 100_000_000)),
    _Var("GRAPHRAG_MAX_LOG_CLUSTERS", "graphrag_max_log_clusters", _integer(1, 1_000_000)),
    _Var("GRAPHRAG_MAX_METRICS", "graphrag_max_metrics", _integer(1, 1_000_000)),
    _Var("GRAPHRAG_MAX_TENANTS", "graphrag_max_tenants", _integer(1, 1_000_000)),
    _Var("GRAPHRAG_TENANT_IDLE", "graphrag_tenant_idle", _duration(60.0, 30 * 86_400.0)),
)

_DRIVERS_NEEDING_DSN = frozenset({"postgres", "mysql"})


def load(environ: Mapping[str, str]) -> Settings:
    """Build :class:`Settings` from ``environ`` (typically ``os.environ``; never read here).

    Raises :class:`ConfigError` for the first bad value, in a fixed order: each variable in
    table order, then the cross-variable rules (``DB_DSN`` required for postgres/mysql; SQLite
    refused in production unless ``OTELCONTEXT_ALLOW_SQLITE_PROD`` is true), then the key
    file (unreadable, malformed, duplicate or missing keys; ``API_KEY`` also listed in it).
    """
    values: dict[str, Any] = {}
    for var in _VARS:
        text = environ.get(var.env, "").strip()
        if not text:
            continue
        try:
            values[var.attr] = var.parse(text)
        except _Invalid as bad:
            raise ConfigError(
                f"{var.env}={var.echo(text)} {bad.problem}: {bad.allowed}",
            ) from None
    settings = Settings(**values)

    if settings.db_driver in _DRIVERS_NEEDING_DSN and "db_dsn" not in values:
        raise ConfigError(
            f"DB_DSN is required when DB_DRIVER={settings.db_driver}: "
            f"set it to the database's connection URL, e.g. "
            f"{settings.db_driver}://user:password@host/otelcontext",
        )
    if settings.is_production and settings.db_driver == "sqlite" and not settings.allow_sqlite_prod:
        raise ConfigError(
            "DB_DRIVER=sqlite is refused when APP_ENV=production: SQLite handles a handful of "
            "services; use DB_DRIVER=postgres, or set OTELCONTEXT_ALLOW_SQLITE_PROD=true to "
            "accept the risk",
        )
    if settings.api_tenant_keys_file:
        entries = _load_key_file(settings.api_tenant_keys_file)
        if settings.api_key:
            shared = digest(settings.api_key)
            for entry in entries:
                if entry.digest == shared:
                    raise ConfigError(
                        f"API_KEY={_MASKED_KEY} is also the key on line {entry.line} of "
                        f"API_TENANT_KEYS_FILE={settings.api_tenant_keys_file!r}: a key "
                        "is either bound to a tenant (the file) or not (API_KEY); use two keys",
                    )
        settings = replace(settings, api_tenant_keys=tuple(entries))
    return settings


def _load_key_file(path: str) -> list[KeyEntry]:
    where = f"API_TENANT_KEYS_FILE={path!r}"
    try:
        with open(path, "rb") as f:
            raw = f.read(_KEY_FILE_MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(
            f"{where} cannot be read ({exc.strerror or exc}): it must be a readable file of "
            "key=tenant lines",
        ) from None
    if len(raw) > _KEY_FILE_MAX_BYTES:
        raise ConfigError(f"{where} is larger than {_KEY_FILE_MAX_BYTES // _MIB} MiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{where} line {line}: is not UTF-8 text") from None
    try:
        return parse_key_file(text)
    except KeyFileError as exc:
        raise ConfigError(f"{where} {exc}") from None


def key_file_summary(settings: Settings) -> str | None:
    """``"N keys for M tenants"`` of the loaded key file (never a key), None without one."""
    if not settings.api_tenant_keys_file:
        return None
    keys = settings.api_tenant_keys
    tenants = {entry.tenant for entry in keys}
    return (
        f"{len(keys)} key{'s' if len(keys) != 1 else ''} for "
        f"{len(tenants)} tenant{'s' if len(tenants) != 1 else ''}"
    )


def describe(settings: Settings) -> list[tuple[str, str]]:
    """``(ENV_VAR_NAME, display value)`` for every setting, in table order, secrets masked.

    The display values (secrets aside) read back through :func:`load` to the same settings.
    """
    return [(var.env, var.show(getattr(settings, var.attr))) for var in _VARS]


def startup_warnings(settings: Settings) -> list[str]:
    """One-line warnings worth logging at start for a configuration that :func:`load` accepted."""
    warnings: list[str] = []
    if not settings.api_key and not settings.api_tenant_keys_file:
        warnings.append(
            "API and ingest are unauthenticated (neither API_KEY nor API_TENANT_KEYS_FILE is "
            "set): anyone who reaches the ports can read and write every tenant's data",
        )
    if settings.app_env not in ("development", "production"):
        warnings.append(
            f"APP_ENV={settings.app_env!r} is neither 'development' nor 'production': "
            "production safeguards (the SQLite refusal) are off",
        )
    if settings.db_driver == "sqlite":
        if settings.is_production:
            warnings.append(
                "SQLite storage in production (OTELCONTEXT_ALLOW_SQLITE_PROD=true): a single "
                "writer stalls ingest beyond ~5 services and there is no failover; migrate to "
                "DB_DRIVER=postgres",
            )
        else:
            warnings.append(
                "SQLite storage: fine for development and small setups (~5 services); "
                "use PostgreSQL for production",
            )
    return warnings
