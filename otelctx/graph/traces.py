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


class SpanNode(NamedTuple):
    """What the graph keeps of a span. A tuple of strings and integers: the cyclic GC
    stops scanning it after its first pass, which matters with hundreds of thousands
    held (``status`` is the ``StatusCode`` value as a plain int for the same reason)."""

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
    spans: dict[str, SpanNode] = field(default_factory=dict)
    status: int = StatusCode.UNSET
    # (service, template id) of log clusters logged during the trace (LOGGED_DURING);
    # None until the first one (most traces have none: one object less per trace)
    log_clusters: list[tuple[str, int]] | None = None

    @property
    def start_ns(self) -> int:
        return min((s.start_ns for s in self.spans.values()), default=0)

    @property
    def end_ns(self) -> int:
        return max((s.end_ns for s in self.spans.values()), default=0)

    def root(self) -> SpanNode | None:
        """The span without a parent in the trace (earliest if several)."""
        roots = [s for s in self.spans.values() if s.parent_span_id not in self.spans]
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
        return None if trace is None else trace.spans.get(span_id)

    def add(self, span: SpanNode, now_ns: int) -> bool:
        """Keep ``span`` (not already held: see :meth:`get`); False when its trace alone
        already holds ``max_spans`` spans (counted)."""
        trace = self.traces.get(span.trace_id)
        if trace is None:
            trace = self.traces[span.trace_id] = TraceNode(span.trace_id, now_ns)
        elif len(trace.spans) >= self.max_spans:
            self.hits["spans"] += 1
            return False
        trace.spans[span.span_id] = span
        self.span_count += 1
        if span.status > trace.status:
            trace.status = span.status
        if span.is_error:
            index = self.errors_by_service.get(span.service)
            if index is None:
                index = self.errors_by_service[span.service] = deque(maxlen=ERRORS_PER_SERVICE)
            index.append((span.trace_id, span.span_id))
        if self.span_count > self.max_spans:
            self._evict(keep=span.trace_id)
        return True

    def _evict(self, keep: str) -> None:
        while self.span_count > self.max_spans and len(self.traces) > 1:
            oldest = next(iter(self.traces))
            if oldest == keep:
                # the trace being added is the oldest: move it behind the others
                self.traces[keep] = self.traces.pop(keep)
                continue
            evicted = len(self.traces.pop(oldest).spans)
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
            dropped += len(trace.spans)
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
