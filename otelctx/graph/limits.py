"""The bounds and timings of the graph, one value object shared by every tenant's graph."""

from __future__ import annotations

from dataclasses import dataclass

NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class GraphLimits:
    """Per-tenant bounds (each counted when hit) and lifetimes, in nanoseconds.

    ``max_pending`` bounds the children remembered while their parent span has not
    arrived; they are forgotten after ``pending_ttl_ns``. ``node_idle_ns``: services,
    operations and edges untouched that long leave the graph.
    """

    max_services: int = 1000
    max_operations: int = 10_000
    max_spans: int = 200_000
    max_log_clusters: int = 10_000
    max_metrics: int = 2000
    max_tenants: int = 1000
    max_pending: int = 100_000
    max_cooldown_keys: int = 10_000
    trace_ttl_ns: int = 3600 * NS_PER_S
    pending_ttl_ns: int = 300 * NS_PER_S
    node_idle_ns: int = 24 * 3600 * NS_PER_S
    tenant_idle_ns: int = 24 * 3600 * NS_PER_S
    cooldown_ns: int = 300 * NS_PER_S
