"""TraceStore: recent traces and their spans, for error chains and dependency chains.

Only what the queries need is kept of a span (:class:`SpanNode`, no attributes). Traces
are held in arrival order; :meth:`TraceStore.prune` drops those that arrived more than
the TTL ago, and a new span beyond ``max_spans`` evicts whole traces, oldest first
(their spans counted in ``hits["spans"]``). A per-service index of recent error spans (at most
``ERRORS_PER_SERVICE`` each, newest kept) makes error-chain queries independent of the
number of spans held; entries whose trace has gone are skipped when read.

``children`` of a trace are computed on demand from ``parent_span_id`` (a trace holds
few spans), so spans may arrive in any order.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import NamedTuple

from otelctx.model import StatusCode

ERRORS_PER_SERVICE = 1000
LOG_CLUSTERS_PER_TRACE = 16


SpanTuple = tuple[str, str, str, str, str, int, int, int, str]
"""A span as held: the fields of :class:`SpanNode` in a plain tuple. The cyclic GC stops
scanning a plain tuple of strings and integers after its first pass (not a NamedTuple,
nor an IntEnum inside), which matters with hundreds of thousands held."""


class SpanNode(NamedTuple):
    """What the graph keeps of a span (no attributes), as the queries read it."""

    trace_id: str
    span_id: str
    parent_span_id: str
    service: str
    operation: str
    start_ns: int
    end_ns: int
    status: int
    status_message: str

    @property
    def is_error(self) -> bool:
        return self.status == StatusCode.ERROR

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)


@dataclass(slots=True)
class TraceNode:
    trace_id: str
    arrived_ns: int
    raw: dict[str, SpanTuple] = field(default_factory=dict)
    status: int = StatusCode.UNSET
    # (service, template id) of log clusters logged during the trace (LOGGED_DURING);
    # None until the first one (most traces have none: one object less per trace)
    log_clusters: list[tuple[str, int]] | None = None

    @property
    def spans(self) -> dict[str, SpanNode]:
        """The spans by id (built on each call: for queries, not the ingest path)."""
        return {k: SpanNode._make(v) for k, v in self.raw.items()}

    def root(self) -> SpanNode | None:
        """The span without a parent in the trace (earliest if several)."""
        roots = [s for s in self.spans.values() if s.parent_span_id not in self.raw]
        return min(roots, key=lambda s: (s.start_ns, s.span_id), default=None)

    def children(self) -> dict[str, list[SpanNode]]:
        out: dict[str, list[SpanNode]] = {}
        for s in self.spans.values():
            if s.parent_span_id:
                out.setdefault(s.parent_span_id, []).append(s)
        for kids in out.values():
            kids.sort(key=lambda s: (s.start_ns, s.span_id))
        return out


class TraceStore:
    def __init__(self, max_spans: int, hits: Counter[str]) -> None:
        self.max_spans = max_spans
        self.hits = hits
        self.traces: dict[str, TraceNode] = {}
        self.span_count = 0
        self.errors_by_service: dict[str, deque[tuple[str, str]]] = {}

    def get(self, trace_id: str, span_id: str) -> SpanNode | None:
        trace = self.traces.get(trace_id)
        raw = None if trace is None else trace.raw.get(span_id)
        return None if raw is None else SpanNode._make(raw)

    def has(self, trace_id: str, span_id: str) -> bool:
        trace = self.traces.get(trace_id)
        return trace is not None and span_id in trace.raw

    def service_of(self, trace_id: str, span_id: str) -> str | None:
        """The service of a held span, None if not held (the ingest path's parent check)."""
        trace = self.traces.get(trace_id)
        raw = None if trace is None else trace.raw.get(span_id)
        return None if raw is None else raw[3]  # the service

    def add(self, span: SpanTuple, now_ns: int) -> bool:
        """Keep ``span`` (not already held: see :meth:`has`); False when its trace alone
        already holds ``max_spans`` spans (counted)."""
        trace_id, span_id, _, service, _, _, _, status, _ = span
        trace = self.traces.get(trace_id)
        if trace is None:
            trace = self.traces[trace_id] = TraceNode(trace_id, now_ns)
        elif len(trace.raw) >= self.max_spans:
            self.hits["spans"] += 1
            return False
        trace.raw[span_id] = span
        self.span_count += 1
        if status > trace.status:
            trace.status = status
        if status == StatusCode.ERROR:
            index = self.errors_by_service.get(service)
            if index is None:
                index = self.errors_by_service[service] = deque(maxlen=ERRORS_PER_SERVICE)
            index.append((trace_id, span_id))
        if self.span_count > self.max_spans:
            self._evict(keep=trace_id)
        return True

    def _evict(self, keep: str) -> None:
        while self.span_count > self.max_spans and len(self.traces) > 1:
            oldest = next(iter(self.traces))
            if oldest == keep:
                # the trace being added is the oldest: move it behind the others
                self.traces[keep] = self.traces.pop(keep)
                continue
            evicted = len(self.traces.pop(oldest).raw)
            self.hits["spans"] += evicted
            self.span_count -= evicted

    def prune(self, cutoff_ns: int) -> int:
        """Drop traces that arrived before ``cutoff_ns``; return how many spans went."""
        dropped = 0
        while self.traces:
            oldest = next(iter(self.traces))
            trace = self.traces[oldest]
            if trace.arrived_ns >= cutoff_ns:
                break
            del self.traces[oldest]
            dropped += len(trace.raw)
        self.span_count -= dropped
        for service in list(self.errors_by_service):
            index = self.errors_by_service[service]
            while index and index[0][0] not in self.traces:
                index.popleft()
            if not index:
                del self.errors_by_service[service]
        return dropped

    def error_spans(self, service: str, since_ns: int) -> list[SpanNode]:
        """The service's error spans held, started at or after ``since_ns``, newest first."""
        out: list[SpanNode] = []
        for trace_id, span_id in reversed(self.errors_by_service.get(service, ())):
            span = self.get(trace_id, span_id)
            if span is not None and span.start_ns >= since_ns:
                out.append(span)
        return out

    def link_log(self, trace_id: str, cluster: tuple[str, int]) -> None:
        trace = self.traces.get(trace_id)
        if trace is None:
            return
        if trace.log_clusters is None:
            trace.log_clusters = [cluster]
        elif cluster not in trace.log_clusters and len(trace.log_clusters) < LOG_CLUSTERS_PER_TRACE:
            trace.log_clusters.append(cluster)
