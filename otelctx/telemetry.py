"""Every Prometheus metric otelctx exports, in one registry per app (no global registry).

Names keep the ``otelcontext_`` prefix of the original system. Label values are bounded:
``signal`` (traces, logs, metrics), ``transport`` (grpc, http), ``reason`` (a fixed set
named where the counter is incremented), ``driver``.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import GC_COLLECTOR, CollectorRegistry, Counter, Gauge, Histogram

AUTH_FAILURE_REASONS = ("missing_header", "bad_scheme", "bad_key")

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 20000, 50000)


@dataclass(frozen=True, slots=True)
class Metrics:
    registry: CollectorRegistry
    accepted: Counter
    rejected: Counter
    requests: Counter
    request_duration: Histogram
    admission_items: Gauge
    admission_bytes: Gauge
    admission_max_items: Gauge
    admission_max_bytes: Gauge
    writer_batch_items: Histogram
    writer_commit_seconds: Histogram
    writer_failures: Counter
    spans_duplicate: Counter
    cardinality_overflow: Counter
    event_loop_lag: Histogram
    db_up: Gauge
    pool: dict[str, Gauge]
    retention_rows_behind: Gauge
    retention_rows_purged: Counter
    retention_pass_seconds: Histogram
    retention_consecutive_failures: Gauge
    retention_last_success: Gauge
    retention_skipped_passes: Counter
    dlq_files: Gauge
    dlq_bytes: Gauge
    dlq_enqueued: Counter
    dlq_replayed: Counter
    dlq_replay_failures: Counter
    dlq_replay_duplicates: Counter
    dlq_quarantined: Counter
    dlq_evicted: Counter
    dlq_evicted_bytes: Counter
    internal_errors: Counter
    api_rate_limited: Counter
    api_auth_failures: Counter
    api_tenant_mismatch: Counter
    api_db_unavailable: Counter
    dashboard_p99_row_cap_hits: Counter
    graph: GraphMetrics


@dataclass(frozen=True, slots=True)
class GraphMetrics:
    """GraphRAG: the event channel, the workers and the loops (``signal``: span, log,
    metric; ``bound``: services, operations, spans, pending, log_clusters,
    drain_templates, metrics, tenants; ``type``: the anomaly types)."""

    events_dropped: Counter
    queue_depth: Gauge
    events_processed: Counter
    bad_events: Counter
    bound_hits: Counter
    anomalies_active: Gauge
    investigations: Counter
    investigations_unsaved: Gauge
    tenants: Gauge
    rebuild_spans: Counter


def _graph_metrics(r: CollectorRegistry) -> GraphMetrics:
    return GraphMetrics(
        events_dropped=Counter(
            "otelcontext_graphrag_events_dropped",
            "Graph events dropped because the graph's channel was full (or closed)",
            ["signal"], registry=r,
        ),
        queue_depth=Gauge(
            "otelcontext_graphrag_event_queue_depth", "Graph events waiting in the channel",
            registry=r,
        ),
        events_processed=Counter(
            "otelcontext_graphrag_events_processed", "Graph events applied to the graph",
            ["signal"], registry=r,
        ),
        bad_events=Counter(
            "otelcontext_graphrag_bad_events",
            "Graph events that raised while being applied (skipped; the log has the traceback)",
            ["signal"], registry=r,
        ),
        bound_hits=Counter(
            "otelcontext_graphrag_bound_hits",
            "Times a per-tenant graph bound evicted something, by bound", ["bound"], registry=r,
        ),
        anomalies_active=Gauge(
            "otelcontext_graphrag_anomalies_active", "Anomalies in progress, by type",
            ["type"], registry=r,
        ),
        investigations=Counter(
            "otelcontext_graphrag_investigations_created", "Investigations created",
            registry=r,
        ),
        investigations_unsaved=Gauge(
            "otelcontext_graphrag_investigations_unsaved",
            "Investigations whose save failed, to be saved again", registry=r,
        ),
        tenants=Gauge("otelcontext_graphrag_tenants", "Tenants with a graph in memory",
                      registry=r),
        rebuild_spans=Counter(
            "otelcontext_graphrag_rebuild_spans",
            "Spans read back from the database by the graph's rebuild", registry=r,
        ),
    )  # fmt: skip


def create_metrics(driver: str) -> Metrics:
    r = CollectorRegistry(auto_describe=True)
    # python_gc_*: collections by generation (the GC pacer's rhythm, nurseries/gcpace.py)
    r.register(GC_COLLECTOR)
    m = Metrics(
        registry=r,
        accepted=Counter(
            "otelcontext_ingest_accepted_items", "Items committed after an export request",
            ["signal", "transport"], registry=r,
        ),
        rejected=Counter(
            "otelcontext_ingest_rejected_items",
            "Items not stored, by reason: invalid, filtered, overload, unavailable,"
            " too_large, undecodable, storage_error",
            ["signal", "reason"], registry=r,
        ),
        requests=Counter(
            "otelcontext_ingest_requests", "Export requests by outcome (ok, partial, refused:"
            " retryable, bad_request: the client's, error: the server's)",
            ["signal", "transport", "outcome"], registry=r,
        ),
        request_duration=Histogram(
            "otelcontext_ingest_request_duration_seconds",
            "Export request latency, receipt to acknowledgement", ["signal", "transport"],
            buckets=_LATENCY_BUCKETS, registry=r,
        ),
        admission_items=Gauge(
            "otelcontext_ingest_queue_items", "Items admitted and not yet committed", registry=r,
        ),
        admission_bytes=Gauge(
            "otelcontext_ingest_queue_bytes", "Request bytes admitted and not yet committed",
            registry=r,
        ),
        admission_max_items=Gauge(
            "otelcontext_ingest_queue_max_items", "INGEST_QUEUE_MAX_ITEMS", registry=r,
        ),
        admission_max_bytes=Gauge(
            "otelcontext_ingest_queue_max_bytes", "INGEST_QUEUE_MAX_MB in bytes", registry=r,
        ),
        writer_batch_items=Histogram(
            "otelcontext_writer_batch_items", "Items per group commit",
            buckets=_BATCH_BUCKETS, registry=r,
        ),
        writer_commit_seconds=Histogram(
            "otelcontext_writer_commit_duration_seconds", "Duration of one group commit",
            buckets=_LATENCY_BUCKETS, registry=r,
        ),
        writer_failures=Counter(
            "otelcontext_writer_commit_failures", "Group commits that failed, by kind"
            " (unavailable, error)", ["kind"], registry=r,
        ),
        spans_duplicate=Counter(
            "otelcontext_ingest_spans_duplicate", "Spans received again and stored once",
            registry=r,
        ),
        cardinality_overflow=Counter(
            "otelcontext_metric_cardinality_overflow",
            "Metric points routed to the overflow series (METRIC_MAX_CARDINALITY)", registry=r,
        ),
        event_loop_lag=Histogram(
            "otelcontext_event_loop_lag_seconds", "How late a 100 ms sleep wakes up",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0), registry=r,
        ),
        db_up=Gauge("otelcontext_db_up", "1 if the last database ping succeeded", ["driver"],
                    registry=r),
        pool=_pool_gauges(r),
        retention_rows_behind=Gauge(
            "otelcontext_retention_rows_behind",
            "Rows older than the retention cutoff, counted before each pass", ["table"],
            registry=r,
        ),
        retention_rows_purged=Counter(
            "otelcontext_retention_rows_purged", "Rows deleted by retention", ["table"],
            registry=r,
        ),
        retention_pass_seconds=Histogram(
            "otelcontext_retention_purge_duration_seconds", "Duration of one retention pass",
            buckets=(0.01, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600), registry=r,
        ),
        retention_consecutive_failures=Gauge(
            "otelcontext_retention_consecutive_failures",
            "Passes in a row in which the job failed (0 after a success)", ["job"], registry=r,
        ),
        retention_last_success=Gauge(
            "otelcontext_retention_last_success_timestamp",
            "Unix time of the job's last successful purge", ["job"], registry=r,
        ),
        dlq_files=Gauge("otelcontext_dlq_files", "Batches waiting in the dead-letter queue",
                        registry=r),
        dlq_bytes=Gauge("otelcontext_dlq_bytes", "Bytes of the dead-letter queue on disk",
                        registry=r),
        dlq_enqueued=Counter("otelcontext_dlq_enqueued", "Batches written to the DLQ",
                             registry=r),
        dlq_replayed=Counter("otelcontext_dlq_replayed", "DLQ batches stored by replay",
                             registry=r),
        dlq_replay_failures=Counter(
            "otelcontext_dlq_replay_failures", "DLQ replays that failed (retried later)",
            registry=r,
        ),
        dlq_replay_duplicates=Counter(
            "otelcontext_dlq_replay_duplicates",
            "DLQ files found stored already when replayed (deleted, not stored again)",
            registry=r,
        ),
        dlq_quarantined=Counter(
            "otelcontext_dlq_quarantined",
            "DLQ files moved to quarantine/, by reason (corrupt, retries)", ["reason"],
            registry=r,
        ),
        dlq_evicted=Counter(
            "otelcontext_dlq_evicted", "DLQ files evicted under DLQ_FULL_POLICY=evict_oldest",
            registry=r,
        ),
        dlq_evicted_bytes=Counter(
            "otelcontext_dlq_evicted_bytes", "Bytes evicted under DLQ_FULL_POLICY=evict_oldest",
            registry=r,
        ),
        retention_skipped_passes=Counter(
            "otelcontext_retention_skipped_passes",
            "Passes skipped because the previous one was still running", registry=r,
        ),
        internal_errors=Counter(
            "otelcontext_internal_errors", "Unexpected errors caught at a task or request top"
            " level", ["subsystem"], registry=r,
        ),
        api_rate_limited=Counter(
            "otelcontext_api_rate_limited", "Requests refused with 429 by the per-IP rate"
            " limit (API_RATE_LIMIT_RPS)", registry=r,
        ),
        api_auth_failures=Counter(
            "otelcontext_api_auth_failures", "Requests refused for want of a valid API key"
            " (HTTP 401, gRPC UNAUTHENTICATED), by reason", ["reason"], registry=r,
        ),
        api_tenant_mismatch=Counter(
            "otelcontext_api_tenant_mismatch", "Requests refused because a key bound to one"
            " tenant named another (HTTP 403, gRPC PERMISSION_DENIED)", ["transport"],
            registry=r,
        ),
        api_db_unavailable=Counter(
            "otelcontext_api_db_unavailable", "API requests answered 503 while the database"
            " health gate is closed", registry=r,
        ),
        dashboard_p99_row_cap_hits=Counter(
            "otelcontext_dashboard_p99_row_cap_hits",
            "Dashboard p99s estimated from a sample because the window held more traces"
            " than DASHBOARD_P99_ROW_CAP (SQLite)", registry=r,
        ),
        graph=_graph_metrics(r),
    )  # fmt: skip
    m.db_up.labels(driver=driver).set(0)
    # Known label values from the start, so that rate() sees the first failure.
    for reason in AUTH_FAILURE_REASONS:
        m.api_auth_failures.labels(reason)
    for transport in ("grpc", "http"):
        m.api_tenant_mismatch.labels(transport)
    return m


# PoolStats field -> (metric name suffix, help)
_POOL_GAUGES = {
    "max_open": ("max_open", "Most connections the pool may open (DB_MAX_OPEN_CONNS)"),
    "open_connections": ("open_connections", "Connections open"),
    "in_use": ("in_use", "Connections in use"),
    "idle": ("idle", "Connections open and idle"),
    "wait_count": ("wait_count", "Cumulative count of waits for a free connection"),
    "wait_duration_s": ("wait_duration_seconds", "Cumulative seconds spent waiting for one"),
}


def _pool_gauges(registry: CollectorRegistry) -> dict[str, Gauge]:
    return {
        field: Gauge(f"otelcontext_db_pool_{suffix}", help_, registry=registry)
        for field, (suffix, help_) in _POOL_GAUGES.items()
    }
