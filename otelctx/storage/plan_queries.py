"""The query API's storage methods, written once: each runs one plan of ``plans``.

A backend inherits :class:`PlanQueries`, sets ``DIALECT`` and implements ``read_plan``
(one snapshot, one crossing per plan) and ``write_plan``; what it does differently (the
SQLite database size adds its WAL file) it overrides.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from otelctx.model import LogRecord
from otelctx.storage import plans
from otelctx.storage.base import Percentile
from otelctx.storage.graph_sql import SqlGraphPersistence
from otelctx.storage.queries import (
    DashboardStats,
    LatencyPoint,
    LogQuery,
    MetricBucket,
    MetricQuery,
    Page,
    ServiceMap,
    StoreStats,
    TraceQuery,
    TraceRow,
    TrafficBucket,
)
from otelctx.storage.sql_queries import Dialect

_T = TypeVar("_T")


class PlanQueries:
    DIALECT: ClassVar[Dialect]

    async def read_plan(self, what: str, plan: plans.Plan[_T]) -> _T:
        raise NotImplementedError

    async def write_plan(self, what: str, plan: plans.Plan[_T]) -> _T:
        raise NotImplementedError

    def graph_persistence(self) -> SqlGraphPersistence:
        return SqlGraphPersistence(self, self.DIALECT)

    async def search_traces(self, q: TraceQuery) -> Page[TraceRow]:
        return await self.read_plan("search_traces", plans.search_traces(self.DIALECT, q))

    async def search_logs(self, q: LogQuery) -> Page[LogRecord]:
        return await self.read_plan("search_logs", plans.search_logs(self.DIALECT, q))

    async def log_context(
        self, tenant_id: str, time_ns: int, window_ns: int, limit: int
    ) -> list[LogRecord]:
        plan = plans.log_context(self.DIALECT, tenant_id, time_ns, window_ns, limit)
        return await self.read_plan("log_context", plan)

    async def metric_buckets(self, q: MetricQuery) -> list[MetricBucket]:
        return await self.read_plan("metric_buckets", plans.metric_buckets(self.DIALECT, q))

    async def list_services(self, tenant_id: str) -> list[str]:
        return await self.read_plan("list_services", plans.list_services(self.DIALECT, tenant_id))

    async def list_metric_names(self, tenant_id: str, service: str | None) -> list[str]:
        plan = plans.list_metric_names(self.DIALECT, tenant_id, service)
        return await self.read_plan("list_metric_names", plan)

    async def traffic(
        self, tenant_id: str, start_ns: int, end_ns: int, step_ns: int, services: tuple[str, ...]
    ) -> list[TrafficBucket]:
        plan = plans.traffic(self.DIALECT, tenant_id, start_ns, end_ns, step_ns, services)
        return await self.read_plan("traffic", plan)

    async def latency_points(
        self, tenant_id: str, start_ns: int, end_ns: int, services: tuple[str, ...], limit: int
    ) -> list[LatencyPoint]:
        plan = plans.latency_points(self.DIALECT, tenant_id, start_ns, end_ns, services, limit)
        return await self.read_plan("latency_points", plan)

    async def dashboard(
        self, tenant_id: str, start_ns: int, end_ns: int, services: tuple[str, ...]
    ) -> DashboardStats:
        plan = plans.dashboard(self.DIALECT, tenant_id, start_ns, end_ns, services)
        return await self.read_plan("dashboard", plan)

    async def service_map(
        self, tenant_id: str, start_ns: int, end_ns: int, *, exact: bool = False
    ) -> ServiceMap:
        plan = plans.service_map(self.DIALECT, tenant_id, start_ns, end_ns, exact=exact)
        return await self.read_plan("service_map", plan)

    async def p99_duration(
        self, tenant_id: str, start_ns: int, end_ns: int, *, row_cap: int,
        services: tuple[str, ...] = (),
    ) -> Percentile:  # fmt: skip
        """Nearest-rank p99: percentile_disc(0.99) on PostgreSQL, ORDER BY … LIMIT 1
        OFFSET ceil(0.99*n)-1 on MySQL (exact at any size), and on SQLite exact up to
        ``row_cap`` traces, a uniform sample above it (``Percentile.method`` says which)."""
        plan = plans.p99_duration(self.DIALECT, tenant_id, start_ns, end_ns, services, row_cap)
        return await self.read_plan("p99", plan)

    async def stats(self, tenant_id: str) -> StoreStats:
        return await self.read_plan("stats", plans.stats(self.DIALECT, tenant_id))
