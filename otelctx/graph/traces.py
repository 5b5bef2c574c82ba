"""TraceStore: recent traces and their spans, for error chains and dependency chains.

Only what the queries need is kept of a span (:class:`SpanNode`, no attributes). Traces
are held in arrival order; :meth:`TraceStore.prune` drops those that arrived more than
the TTL ago, and a new span beyond ``max_spans`` evicts whole traces, oldest first
(their spans counted in ``hits["spans"]``). A per-service index of recent error spans (at most
``ERRORS_PER_SERVICE`` each, newest kept) makes error-chain queries independent of the
number of spans held; entries whose trace has gone are skipped when read.

``children`` of a trace are computed on demand from ``parent_span_id`` (a trace holds
few spans), so spans may arrive in any order. A trace's status is the highest of its
spans' (ERROR wins).
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class TraceNode:
    """A view of one held trace for the queries (built by :meth:`TraceStore.trace`)."""

    trace_id: str
    arrived_ns: int
    spans: dict[str, SpanNode]
    # (service, template id) of log clusters logged during the trace (LOGGED_DURING)
    log_clusters: tuple[tuple[str, int], ...]

    @property
    def status(self) -> int:
        return max((s.status for s in self.spans.values()), default=StatusCode.UNSET)

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
    """Held traces. Per trace, one dict of span tuples and nothing else on the ingest
    path (arrival times and log links live in store-wide dicts), so each trace leaves one
    object for the cyclic GC to follow until a full collection untracks the dict too."""

    def __init__(self, max_spans: int, hits: Counter[str]) -> None:
        self.max_spans = max_spans
        self.hits = hits
        # arrival order; an OrderedDict because the oldest is taken from the front for
        # every span added at the bound, and a plain dict finds its first entry by
        # skipping every slot deleted before it (~18 µs at 170,000 traces)
        self.traces: OrderedDict[str, dict[str, SpanTuple]] = OrderedDict()
        self.arrived: dict[str, int] = {}
        self.log_links: dict[str, list[tuple[str, int]]] = {}
        self.span_count = 0
        self.errors_by_service: dict[str, deque[tuple[str, str]]] = {}

    def trace(self, trace_id: str) -> TraceNode | None:
        spans = self.traces.get(trace_id)
        if spans is None:
            return None
        return TraceNode(trace_id, self.arrived[trace_id],
                         {k: SpanNode._make(v) for k, v in spans.items()},
                         tuple(self.log_links.get(trace_id, ())))  # fmt: skip

    def get(self, trace_id: str, span_id: str) -> SpanNode | None:
        spans = self.traces.get(trace_id)
        raw = None if spans is None else spans.get(span_id)
        return None if raw is None else SpanNode._make(raw)

    def has(self, trace_id: str, span_id: str) -> bool:
        spans = self.traces.get(trace_id)
        return spans is not None and span_id in spans

    def service_of(self, trace_id: str, span_id: str) -> str | None:
        """The service of a held span, None if not held (the ingest path's parent check)."""
        spans = self.traces.get(trace_id)
        raw = None if spans is None else spans.get(span_id)
        return None if raw is None else raw[3]  # the service

    def add(self, span: SpanTuple, now_ns: int) -> bool:
        """Keep ``span`` (not already held: see :meth:`has`); False when its trace alone
        already holds ``max_spans`` spans (counted)."""
        trace_id, span_id, _, service, _, _, _, status, _ = span
        spans = self.traces.get(trace_id)
        if spans is None:
            spans = self.traces[trace_id] = {}
            self.arrived[trace_id] = now_ns
        elif len(spans) >= self.max_spans:
            self.hits["spans"] += 1
            return False
        spans[span_id] = span
        self.span_count += 1
        if status == StatusCode.ERROR:
            index = self.errors_by_service.get(service)
            if index is None:
                index = self.errors_by_service[service] = deque(maxlen=ERRORS_PER_SERVICE)
            index.append((trace_id, span_id))
        if self.span_count > self.max_spans:
            self._evict(keep=trace_id)
        return True

    def _drop(self, trace_id: str) -> int:
        self.arrived.pop(trace_id, None)
        self.log_links.pop(trace_id, None)
        n = len(self.traces.pop(trace_id))
        self.span_count -= n
        return n

    def _evict(self, keep: str) -> None:
        traces = self.traces
        while self.span_count > self.max_spans and len(traces) > 1:
            oldest = next(iter(traces))
            if oldest == keep:
                # the trace being added is the oldest: move it behind the others
                traces.move_to_end(keep)
                continue
            self.hits["spans"] += self._drop(oldest)

    def prune(self, cutoff_ns: int) -> int:
        """Drop traces that arrived before ``cutoff_ns``; return how many spans went."""
        dropped = 0
        while self.traces:
            oldest = next(iter(self.traces))
            if self.arrived[oldest] >= cutoff_ns:
                break
            dropped += self._drop(oldest)
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
        if trace_id not in self.traces:
            return
        links = self.log_links.get(trace_id)
        if links is None:
            self.log_links[trace_id] = [cluster]
        elif cluster not in links and len(links) < LOG_CLUSTERS_PER_TRACE:
            links.append(cluster)
