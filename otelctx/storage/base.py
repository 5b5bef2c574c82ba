"""The storage protocol every backend implements, and its errors.

Exception hierarchy (translated at the backend boundary, ``raise ... from exc``)::

    StorageError                 a write or query failed; the batch is not stored
    ├── StorageUnavailable       the database cannot be reached or cannot write now
    │                            (down, locked, read-only, disk full): retryable
    └── SchemaError              the schema is newer than this build knows, or broken

A backend promises that ``write`` is atomic: either every row of the batch is
committed when it returns, or it raises and nothing of the batch is visible.
Span writes are idempotent on (tenant_id, trace_id, span_id), and concurrent writes
(up to ``write_concurrency``) give the same result as any serial order.

Logs and metric points have no natural key, so writing a batch twice stores them twice.
A batch that may be written again after a commit whose outcome was lost (a DLQ file
replayed after a crash between the commit and the file's removal) carries a
``replay_key``: the key goes into ``dlq_replays`` in the batch's own transaction, so the
batch and its key are committed together or not at all, and a write that finds its key
there stores nothing and says so (``WriteResult.already_stored``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from otelctx.config import Settings
from otelctx.graph.persist import GraphPersistence
from otelctx.model import LogRecord, MetricPoint, SpanRecord, TraceSummary
from otelctx.storage.queries import (
    DashboardStats,
    LatencyPoint,
    LogQuery,
    MetricBucket,
    MetricQuery,
    Page,
    PurgeCounts,
    ServiceMap,
    StoreStats,
    TraceQuery,
    TraceRow,
    TrafficBucket,
)


class StorageError(Exception):
    """A storage operation failed; the message is safe to show (no secrets)."""


class StorageUnavailable(StorageError):
    """The database is unreachable or cannot accept writes right now; retry later."""


class SchemaError(StorageError):
    """The database schema cannot be used by this build."""


@dataclass(frozen=True, slots=True)
class WriteBatch:
    spans: list[SpanRecord] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    points: list[MetricPoint] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.spans) + len(self.logs) + len(self.points)


@dataclass(frozen=True, slots=True)
class WriteResult:
    spans_inserted: int
    spans_duplicate: int
    logs_inserted: int
    points_inserted: int
    # the batch's replay_key was stored already: this write committed nothing
    already_stored: bool = False


@dataclass(frozen=True, slots=True)
class TraceDetail:
    summary: TraceSummary
    spans: list[SpanRecord]
    logs: list[LogRecord]

    @property
    def services(self) -> list[str]:
        return sorted({s.service_name for s in self.spans})


@dataclass(frozen=True, slots=True)
class Percentile:
    """A latency percentile over the traces of a window.

    ``method`` says how it was computed: ``percentile_disc`` (PostgreSQL), ``offset``
    (MySQL: ORDER BY … LIMIT 1 OFFSET), ``exact`` (SQLite up to the row cap) or
    ``sample`` (SQLite above it: nearest rank over a uniform random sample of about
    row-cap traces, so it neither reads low nor costs more than the cap).
    """

    value_ns: int | None  # None: no trace in the window
    method: str
    rows: int  # traces in the window


@dataclass(frozen=True, slots=True)
class PoolStats:
    """Connection pool figures; wait_count and wait_duration_s are cumulative."""

    max_open: int
    open_connections: int
    in_use: int
    idle: int
    wait_count: int
    wait_duration_s: float


# Group commits in flight at once when DB_WRITERS=0 (auto), measured best on the
# reference machine (docs/benchmarks.md): PostgreSQL's concurrent transactions soon
# contend on the same indexes and WAL flushes; MariaDB gains up to 4.
_AUTO_WRITERS = {"postgres": 2, "mysql": 4}


def write_concurrency(settings: Settings) -> int:
    """DB_WRITERS, or the driver's default; never more than half the pool (reads need
    connections too), never less than 1."""
    wanted = settings.db_writers or _AUTO_WRITERS.get(settings.db_driver, 1)
    return max(1, min(wanted, settings.db_max_open_conns // 2))


class Storage(Protocol):
    """What the writer, the API and the samplers need from a database."""

    @property
    def driver(self) -> str: ...

    @property
    def write_concurrency(self) -> int:
        """How many group commits may run at once (1 for a single-writer database)."""
        ...

    async def write(self, batch: WriteBatch, *, replay_key: str | None = None) -> WriteResult:
        """Commit the whole batch in one transaction, or raise StorageError and store nothing.

        With ``replay_key`` (at most 64 characters, e.g. a checksum of the batch), the key
        is committed with the batch; when it was committed before, nothing is written and
        the result has ``already_stored`` set (and every count 0)."""
        ...

    async def ping(self) -> None:
        """Raise StorageUnavailable unless the database answers a trivial query."""
        ...

    async def get_trace(self, tenant_id: str, trace_id: str) -> TraceDetail | None: ...

    async def count_rows(self, table: str, tenant_id: str | None = None) -> int:
        """Rows in one of the data tables (spans, traces, logs, metric_points)."""
        ...

    async def p99_duration(
        self,
        tenant_id: str,
        start_ns: int,
        end_ns: int,
        *,
        row_cap: int,
        services: tuple[str, ...] = (),
    ) -> Percentile:
        """Nearest-rank p99 of trace durations with start in [start_ns, end_ns)
        (and, when ``services`` is given, a root service among them)."""
        ...

    async def count_older(self, table: str, cutoff_ns: int) -> int:
        """Rows of a table retention purges (``rows.PURGE_TIME_COLUMN``: the data tables
        and the graph's) older than ``cutoff_ns`` (what retention has still to do)."""
        ...

    async def purge_batch(self, table: str, cutoff_ns: int, limit: int) -> int:
        """Delete up to ``limit`` rows of a table retention purges older than
        ``cutoff_ns`` (strictly); return how many. One short transaction, so ingest gets
        through between batches. ValueError for any other table."""
        ...

    async def maintain(self) -> None:
        """Daily upkeep that keeps queries fast and gives deleted space back, without a
        long exclusive lock: VACUUM ANALYZE (PostgreSQL), OPTIMIZE TABLE (MySQL),
        PRAGMA optimize and an incremental vacuum (SQLite)."""
        ...

    def pool_stats(self) -> PoolStats: ...

    def graph_persistence(self) -> GraphPersistence:
        """The service graph's investigations, snapshots and Drain templates in this
        database, and its rebuild's read of ``spans`` (``storage.graph_sql``)."""
        ...

    # -- the query API (otelctx.storage.queries); every call is scoped to one tenant ----

    async def search_traces(self, q: TraceQuery) -> Page[TraceRow]:
        """Traces matching ``q`` (see the module docstring of queries), sorted by
        ``q.sort`` then trace_id, so pages are stable; ``total`` counts every match."""
        ...

    async def search_logs(self, q: LogQuery) -> Page[LogRecord]: ...

    async def log_context(
        self, tenant_id: str, time_ns: int, window_ns: int, limit: int
    ) -> list[LogRecord]:
        """Logs in ``[time_ns - window_ns, time_ns + window_ns]``, oldest first: at most
        ``limit`` before ``time_ns`` (the nearest ones) and ``limit`` from it on."""
        ...

    async def metric_buckets(self, q: MetricQuery) -> list[MetricBucket]:
        """Non-empty buckets of ``q.step_ns`` aligned to multiples of it, oldest first."""
        ...

    async def list_services(self, tenant_id: str) -> list[str]:
        """Distinct service names of spans, logs and metric points, sorted."""
        ...

    async def list_metric_names(self, tenant_id: str, service: str | None) -> list[str]: ...

    async def traffic(
        self, tenant_id: str, start_ns: int, end_ns: int, step_ns: int, services: tuple[str, ...]
    ) -> list[TrafficBucket]:
        """Traces started per step-aligned bucket, with how many ended in error."""
        ...

    async def latency_points(
        self, tenant_id: str, start_ns: int, end_ns: int, services: tuple[str, ...], limit: int
    ) -> list[LatencyPoint]:
        """The ``limit`` most recent traces of the window, newest first."""
        ...

    async def dashboard(
        self, tenant_id: str, start_ns: int, end_ns: int, services: tuple[str, ...]
    ) -> DashboardStats: ...

    async def service_map(
        self, tenant_id: str, start_ns: int, end_ns: int, *, exact: bool = False
    ) -> ServiceMap:
        """Services of the spans started in the window, and the calls between them
        (a child span whose parent span is in another service), sorted by name. Above
        plans.SERVICE_MAP_SPAN_CAP spans it is estimated from a sample unless ``exact``."""
        ...

    async def stats(self, tenant_id: str) -> StoreStats: ...

    async def purge_tenant(self, tenant_id: str, cutoff_ns: int) -> PurgeCounts:
        """Delete the tenant's rows older than ``cutoff_ns`` (all four data tables)."""
        ...
