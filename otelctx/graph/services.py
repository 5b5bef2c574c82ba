"""ServiceStore: service and operation nodes, and CALLS edges between services.

Every node and edge carries a :class:`~otelctx.graph.window.Window` (windowed, not
since-start statistics) and the time it was last touched. The store is bounded: at most
``max_services`` services and ``max_operations`` operations; a new one beyond the bound
evicts the least recently touched (a service takes its operations and edges with it).
Each eviction is counted in ``hits`` under the bound's name, for the caller to turn into
metrics.

Edges are kept in both directions (``callees`` and ``callers`` adjacency sets), so
walking callers for impact analysis costs O(degree), not O(edges).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field

from otelctx.graph.window import Window

CallSample = tuple[int, int, int, int, bool]
"""(minute, now minute, duration ns, histogram bucket, is error): one span as the windows
count it (``Window.record``'s arguments)."""


@dataclass(slots=True)
class ServiceNode:
    name: str
    first_seen_ns: int
    last_seen_ns: int
    window: Window = field(default_factory=Window)
    operations: set[str] = field(default_factory=set)


@dataclass(slots=True)
class OperationNode:
    service: str
    name: str
    first_seen_ns: int
    last_seen_ns: int
    window: Window = field(default_factory=Window)


@dataclass(slots=True)
class CallEdge:
    """CALLS source → target: the statistics are those of the target's (child) spans."""

    source: str
    target: str
    first_seen_ns: int
    last_seen_ns: int
    window: Window = field(default_factory=Window)


class ServiceStore:
    def __init__(self, max_services: int, max_operations: int, hits: Counter[str]) -> None:
        self.max_services = max_services
        self.max_operations = max_operations
        self.hits = hits
        self.services: OrderedDict[str, ServiceNode] = OrderedDict()
        self.operations: OrderedDict[tuple[str, str], OperationNode] = OrderedDict()
        self.edges: dict[tuple[str, str], CallEdge] = {}
        self.callees: dict[str, set[str]] = {}
        self.callers: dict[str, set[str]] = {}

    # -- writes ---------------------------------------------------------------------------

    def record_call(
        self,
        service: str,
        operation: str,
        sample: CallSample,
        now_ns: int,
    ) -> None:
        """Count one span of ``service``/``operation``."""
        node = self.services.get(service)
        if node is None:
            node = self._new_service(service, now_ns)
        else:
            self.services.move_to_end(service)
            node.last_seen_ns = now_ns
        node.window.record(*sample)
        key = (service, operation)
        op = self.operations.get(key)
        if op is None:
            if len(self.operations) >= self.max_operations:
                self.hits["operations"] += 1
                self._evict_operation()
            op = self.operations[key] = OperationNode(service, operation, now_ns, now_ns)
            node.operations.add(operation)
        else:
            self.operations.move_to_end(key)
            op.last_seen_ns = now_ns
        op.window.record(*sample)

    def record_edge(self, source: str, target: str, sample: CallSample, now_ns: int) -> None:
        """Count one call from ``source`` to ``target`` (both must be known services);
        ``sample`` is the target's (child) span."""
        if source not in self.services or target not in self.services:
            return  # evicted meanwhile: an edge never outlives its ends
        key = (source, target)
        edge = self.edges.get(key)
        if edge is None:
            edge = self.edges[key] = CallEdge(source, target, now_ns, now_ns)
            self.callees.setdefault(source, set()).add(target)
            self.callers.setdefault(target, set()).add(source)
        edge.last_seen_ns = now_ns
        edge.window.record(*sample)

    def _new_service(self, name: str, now_ns: int) -> ServiceNode:
        if len(self.services) >= self.max_services:
            self.hits["services"] += 1
            oldest = next(iter(self.services))
            self.remove_service(oldest)
        node = self.services[name] = ServiceNode(name, now_ns, now_ns)
        return node

    def _evict_operation(self) -> None:
        (service, name), _ = self.operations.popitem(last=False)
        node = self.services.get(service)
        if node is not None:
            node.operations.discard(name)

    def remove_service(self, name: str) -> None:
        node = self.services.pop(name, None)
        if node is None:
            return
        for op in node.operations:
            self.operations.pop((name, op), None)
        for target in self.callees.pop(name, set()):
            self.edges.pop((name, target), None)
            self.callers.get(target, set()).discard(name)
        for source in self.callers.pop(name, set()):
            self.edges.pop((source, name), None)
            self.callees.get(source, set()).discard(name)

    def prune_idle(self, cutoff_ns: int) -> int:
        """Remove services, operations and edges not touched since ``cutoff_ns``."""
        removed = 0
        for name in [n for n, s in self.services.items() if s.last_seen_ns < cutoff_ns]:
            self.remove_service(name)
            removed += 1
        for key in [k for k, o in self.operations.items() if o.last_seen_ns < cutoff_ns]:
            op = self.operations.pop(key)
            svc = self.services.get(op.service)
            if svc is not None:
                svc.operations.discard(op.name)
        for key in [k for k, e in self.edges.items() if e.last_seen_ns < cutoff_ns]:
            del self.edges[key]
            self.callees.get(key[0], set()).discard(key[1])
            self.callers.get(key[1], set()).discard(key[0])
        return removed

    # -- reads ----------------------------------------------------------------------------

    def operations_of(self, service: str) -> list[OperationNode]:
        node = self.services.get(service)
        if node is None:
            return []
        return [self.operations[(service, op)] for op in sorted(node.operations)]

    def callers_of(self, service: str) -> list[str]:
        return sorted(self.callers.get(service, ()))

    def callees_of(self, service: str) -> list[str]:
        return sorted(self.callees.get(service, ()))


def health_score(error_rate: float, avg_ms: float) -> float:
    """The original's service health: ``clamp01(1 - 5*err - 0.1*max(0, (avg-100)/100))``."""
    score = 1.0 - 5.0 * error_rate - 0.1 * max(0.0, (avg_ms - 100.0) / 100.0)
    return min(1.0, max(0.0, score))


def edge_health(error_rate: float, avg_ms: float) -> float:
    """The original's edge health: ``max(0, 1 - 5*err - max(0, (avg-200)/2000))``."""
    return max(0.0, 1.0 - 5.0 * error_rate - max(0.0, (avg_ms - 200.0) / 2000.0))


def status_of(health: float) -> str:
    """healthy at 0.9 and above, degraded at 0.7 and above, else critical."""
    if health >= 0.9:
        return "healthy"
    if health >= 0.7:
        return "degraded"
    return "critical"
