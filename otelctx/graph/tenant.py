"""One tenant's graph, and the registry of every tenant's graph.

:class:`TenantGraph` takes span, log and metric records (``otelctx.model``) one at a time
and keeps the stores in step. Nothing here knows about channels or clocks: every call
gets ``now_ns``.

CALLS edges do not depend on arrival order. A span whose parent is already held makes
the edge parent service → its service at once; otherwise it is remembered under
(trace id, parent span id) and the edge is made when the parent arrives. Either way
the edge counts the child span's end time, duration and status, so parent-first and
child-first give the same graph. Remembered children are bounded (``max_pending``,
oldest forgotten first, counted as ``hits["pending"]``) and forgotten after
``pending_ttl_ns`` (a parent that was never exported, or sampled away).

A span already held (same trace and span id: a client retry, or the rebuild reading a
span that came live) is ignored, so nothing is counted twice while its trace is held.

:class:`GraphRegistry` maps tenants to graphs: a tenant's graph is created on its first
record, evicted after ``tenant_idle_ns`` without one, and at most ``max_tenants`` are
held (the least recently active is evicted for a new one, counted as
``hits["tenants"]``). A query for an unknown tenant sees nothing: graphs never share
state.
"""

from __future__ import annotations

from collections import Counter, OrderedDict

from otelctx.graph.anomalies import AnomalyStore
from otelctx.graph.drain import TemplateRecord
from otelctx.graph.investigations import Cooldown
from otelctx.graph.limits import GraphLimits
from otelctx.graph.services import CallSample, ServiceStore
from otelctx.graph.signals import SignalStore
from otelctx.graph.traces import TraceStore
from otelctx.graph.window import SLOT_NS, bucket_of
from otelctx.model import LogRecord, MetricPoint, SpanRecord, StatusCode

_Pending = tuple[str, CallSample, int]
"""A child whose parent has not arrived: (service, sample, added ns). Plain tuples, and
tuples of them per parent, so the cyclic GC stops following them after one pass."""


class TenantGraph:
    def __init__(self, tenant_id: str, limits: GraphLimits, now_ns: int) -> None:
        self.tenant_id = tenant_id
        self.limits = limits
        self.hits: Counter[str] = Counter()
        self.services = ServiceStore(limits.max_services, limits.max_operations, self.hits)
        self.traces = TraceStore(limits.max_spans, self.hits)
        self.signals = SignalStore(limits.max_log_clusters, limits.max_metrics, self.hits)
        self.anomalies = AnomalyStore()
        self.cooldown = Cooldown(limits.cooldown_ns, limits.max_cooldown_keys)
        # oldest first, taken from the front (an OrderedDict: see TraceStore.traces)
        self._pending: OrderedDict[tuple[str, str], tuple[_Pending, ...]] = OrderedDict()
        self._pending_count = 0
        self.last_active_ns = now_ns
        self.created_ns = now_ns

    # -- ingest ---------------------------------------------------------------------------

    def add_span(self, span: SpanRecord, now_ns: int) -> bool:
        """Add one span; False when it is ignored (no service name, or already held)."""
        service = span.service_name
        traces = self.traces
        if not service or traces.has(span.trace_id, span.span_id):
            return False
        self.last_active_ns = now_ns
        end_ns = span.end_time_unix_nano
        duration = span.duration_ns
        # computed once for the service, operation and edge windows
        sample: CallSample = (
            (end_ns if end_ns < now_ns else now_ns) // SLOT_NS,
            now_ns // SLOT_NS,
            duration,
            bucket_of(duration),
            span.status_code is StatusCode.ERROR,
        )
        services = self.services
        services.record_call(service, span.name, sample, now_ns)
        traces.add((span.trace_id, span.span_id, span.parent_span_id, service, span.name,
                    span.start_time_unix_nano, end_ns, int(span.status_code),
                    span.status_message), now_ns)  # fmt: skip
        if span.parent_span_id:
            parent = traces.service_of(span.trace_id, span.parent_span_id)
            if parent is None:
                self._remember(span.trace_id, span.parent_span_id,
                               (service, sample, now_ns))  # fmt: skip
            elif parent != service:
                services.record_edge(parent, service, sample, now_ns)
        if self._pending:
            children = self._pending.pop((span.trace_id, span.span_id), None)
            if children:
                self._pending_count -= len(children)
                for child, child_sample, _ in children:
                    if child != service:
                        services.record_edge(service, child, child_sample, now_ns)
        return True

    def _remember(self, trace_id: str, parent_id: str, child: _Pending) -> None:
        if self._pending_count >= self.limits.max_pending:
            self.hits["pending"] += 1
            _, dropped = self._pop_oldest_pending()
            self._pending_count -= len(dropped)
        key = (trace_id, parent_id)
        # a new tuple per added child: parents rarely wait for more than a few
        self._pending[key] = (*self._pending.get(key, ()), child)
        self._pending_count += 1

    def _pop_oldest_pending(self) -> tuple[tuple[str, str], tuple[_Pending, ...]]:
        return self._pending.popitem(last=False)

    @property
    def pending_count(self) -> int:
        return self._pending_count

    def add_log(self, record: LogRecord, now_ns: int) -> bool:
        if not record.service_name:
            return False
        self.last_active_ns = now_ns
        cluster = self.signals.add_log(record, now_ns)
        if cluster is None:
            return False
        if record.trace_id:
            self.traces.link_log(record.trace_id, (cluster.service, cluster.template_id))
        return True

    def add_metric(self, point: MetricPoint, now_ns: int) -> bool:
        if not point.service_name:
            return False
        self.last_active_ns = now_ns
        return self.signals.add_metric(point, now_ns) is not None

    def load_templates(self, records: list[TemplateRecord]) -> int:
        return self.signals.drain.load(records)

    # -- upkeep ---------------------------------------------------------------------------

    def prune(self, now_ns: int) -> None:
        """Drop what outlived its lifetime: traces (TTL), remembered children, idle nodes,
        log clusters and metrics (24 h), anomalies (24 h), cooldown keys."""
        limits = self.limits
        self.traces.prune(now_ns - limits.trace_ttl_ns)
        cutoff = now_ns - limits.pending_ttl_ns
        while self._pending:
            key = next(iter(self._pending))
            if self._pending[key][0][2] >= cutoff:  # the first child's added_ns
                break
            self._pending_count -= len(self._pending.pop(key))
        self.services.prune_idle(now_ns - limits.node_idle_ns)
        self.signals.prune(now_ns)
        self.anomalies.prune(now_ns, set(self.services.services))
        self.cooldown.janitor(now_ns)


class GraphRegistry:
    """Every tenant's graph; see the module docstring."""

    def __init__(self, limits: GraphLimits) -> None:
        self.limits = limits
        self.graphs: OrderedDict[str, TenantGraph] = OrderedDict()
        self.hits: Counter[str] = Counter()
        # Drain templates loaded at start for tenants that have no graph yet
        self.preloaded: dict[str, list[TemplateRecord]] = {}

    def get(self, tenant_id: str) -> TenantGraph | None:
        return self.graphs.get(tenant_id)

    def graph_for(self, tenant_id: str, now_ns: int) -> TenantGraph:
        graph = self.graphs.get(tenant_id)
        if graph is not None:
            self.graphs.move_to_end(tenant_id)
            return graph
        if len(self.graphs) >= self.limits.max_tenants:
            self.hits["tenants"] += 1
            self.graphs.popitem(last=False)
        graph = self.graphs[tenant_id] = TenantGraph(tenant_id, self.limits, now_ns)
        templates = self.preloaded.pop(tenant_id, None)
        if templates:
            graph.load_templates(templates)
        return graph

    def add_span(self, span: SpanRecord, now_ns: int) -> bool:
        return self.graph_for(span.tenant_id, now_ns).add_span(span, now_ns)

    def add_log(self, record: LogRecord, now_ns: int) -> bool:
        return self.graph_for(record.tenant_id, now_ns).add_log(record, now_ns)

    def add_metric(self, point: MetricPoint, now_ns: int) -> bool:
        return self.graph_for(point.tenant_id, now_ns).add_metric(point, now_ns)

    def prune(self, now_ns: int) -> list[TenantGraph]:
        """Prune every graph; evict tenants idle longer than ``tenant_idle_ns`` and return
        their graphs (whose Drain templates the caller may still want to save)."""
        cutoff = now_ns - self.limits.tenant_idle_ns
        idle = [g for g in self.graphs.values() if g.last_active_ns < cutoff]
        for graph in idle:
            del self.graphs[graph.tenant_id]
        for graph in self.graphs.values():
            graph.prune(now_ns)
        return idle

    def take_hits(self) -> Counter[str]:
        """Bound hits since the last call, summed over tenants (and reset)."""
        total = Counter(self.hits)
        self.hits.clear()
        for graph in self.graphs.values():
            total.update(graph.hits)
            graph.hits.clear()
        return total
