"""Root-cause queries over one tenant's graph (pure; every call gets what it needs).

- :func:`error_chains`: for the service's recent error spans (one per trace), the chain
  from the trace's top-most held ancestor down through the error span and on through
  failing children. The **root cause is the deepest failing span**: the failing span of
  the chain with no failing child (the original named the entry point instead). Where a
  span has several failing children, the chain follows the one leading deepest (then
  the earliest).
- :func:`impact`: the blast radius — the services that call the given one, directly or
  transitively, up to ``depth`` hops, found by walking CALLS edges *backwards* (the
  original walked forwards, i.e. listed what the service depends on).
- :func:`rank_root_causes`: candidate (service, operation) pairs scored by the error
  chains ending in them (+1 each) and anomalies of their service (+2 each), with the
  evidence in words.
- :func:`dependency_chain`, :func:`correlated`, :func:`shortest_path` (Dijkstra over CALLS
  as undirected, weight ``1 / calls``).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from otelctx.graph.anomalies import Anomaly
from otelctx.graph.services import health_score
from otelctx.graph.signals import WARN_SEVERITY, LogCluster, MetricNode
from otelctx.graph.tenant import TenantGraph
from otelctx.graph.traces import SpanNode, TraceNode
from otelctx.graph.window import SLOTS

CHAIN_LOGS = 10


@dataclass(frozen=True, slots=True)
class ErrorChain:
    trace_id: str
    trigger: SpanNode  # the error span of the service asked about
    root_cause: SpanNode
    steps: tuple[SpanNode, ...]  # top-most ancestor first, root cause last
    logs: tuple[LogCluster, ...]


def _ancestors(spans: dict[str, SpanNode], span: SpanNode) -> list[SpanNode]:
    """Held ancestors of ``span``, top-most first (stops at a missing parent or a cycle)."""
    out: list[SpanNode] = []
    seen = {span.span_id}
    cur = spans.get(span.parent_span_id)
    while cur is not None and cur.span_id not in seen:
        seen.add(cur.span_id)
        out.append(cur)
        cur = spans.get(cur.parent_span_id)
    out.reverse()
    return out


def _failing_descent(trace: TraceNode, start: SpanNode) -> list[SpanNode]:
    """``start`` and the failing spans below it, following the deepest failing branch."""
    children = trace.children()
    depth: dict[str, int] = {}
    on_path: set[str] = set()
    stack: list[tuple[SpanNode, bool]] = [(start, False)]
    while stack:  # post-order without recursion: traces can be deep
        node, done = stack.pop()
        if done:
            on_path.discard(node.span_id)
            below = [depth[c.span_id] for c in children.get(node.span_id, ()) if c.span_id in depth]
            depth[node.span_id] = 1 + max(below, default=0)
            continue
        if node.span_id in depth or node.span_id in on_path:
            continue
        on_path.add(node.span_id)
        stack.append((node, True))
        for c in children.get(node.span_id, ()):
            if c.is_error and c.span_id not in depth and c.span_id not in on_path:
                stack.append((c, False))
    out = [start]
    seen = {start.span_id}
    cur = start
    while True:
        kids = [c for c in children.get(cur.span_id, ())
                if c.is_error and c.span_id in depth and c.span_id not in seen]  # fmt: skip
        if not kids:
            return out
        cur = min(kids, key=lambda c: (-depth[c.span_id], c.start_ns, c.span_id))
        seen.add(cur.span_id)
        out.append(cur)


def _chain_logs(
    graph: TenantGraph, trace: TraceNode, root: SpanNode, since_ns: int
) -> list[LogCluster]:
    found: list[LogCluster] = []
    for key in trace.log_clusters:
        cluster = graph.signals.clusters.get(key)
        if cluster is not None:
            found.append(cluster)
    for cluster in graph.signals.clusters_of(root.service, since_ns, WARN_SEVERITY):
        if cluster not in found:
            found.append(cluster)
    return found[:CHAIN_LOGS]


def error_chains(
    graph: TenantGraph, service: str, since_ns: int, limit: int = 10
) -> list[ErrorChain]:
    """At most ``limit`` chains, newest error first, one per trace."""
    out: list[ErrorChain] = []
    traces_seen: set[str] = set()
    for span in graph.traces.error_spans(service, since_ns):
        if span.trace_id in traces_seen:
            continue
        trace = graph.traces.trace(span.trace_id)
        if trace is None:
            continue
        traces_seen.add(span.trace_id)
        descent = _failing_descent(trace, span)
        root = descent[-1]
        steps = tuple(_ancestors(trace.spans, span) + descent)
        logs = tuple(_chain_logs(graph, trace, root, since_ns))
        out.append(ErrorChain(span.trace_id, span, root, steps, logs))
        if len(out) >= limit:
            break
    return out


@dataclass(frozen=True, slots=True)
class Impacted:
    service: str
    depth: int
    via: str  # the service it calls on the way to the one asked about
    call_count: int  # calls service -> via in the last 15 min
    error_rate: float  # of those calls
    impact_score: float  # 1 - the caller's health over the recent window


def impact(graph: TenantGraph, service: str, depth: int, now_ns: int) -> list[Impacted]:
    """Callers of ``service``, breadth first, each once at its smallest depth."""
    store = graph.services
    out: list[Impacted] = []
    seen = {service}
    frontier = [service]
    for level in range(1, depth + 1):
        nxt: list[str] = []
        for target in frontier:
            for caller in store.callers_of(target):
                if caller in seen:
                    continue
                seen.add(caller)
                nxt.append(caller)
                edge = store.edges[(caller, target)].window.stats(now_ns, SLOTS)
                node = store.services.get(caller)
                stats = node.window.stats(now_ns) if node is not None else None
                health = health_score(stats.error_rate, stats.avg_ns / 1e6) if stats else 0.0
                out.append(Impacted(caller, level, target, edge.calls, edge.error_rate,
                                    round(1.0 - health, 4)))  # fmt: skip
        frontier = nxt
        if not frontier:
            break
    return out


@dataclass(frozen=True, slots=True)
class RankedCause:
    service: str
    operation: str
    score: float
    evidence: tuple[str, ...]
    chain_count: int
    trace_ids: tuple[str, ...]
    error_message: str
    anomalies: tuple[Anomaly, ...]


def rank_root_causes(graph: TenantGraph, service: str, since_ns: int) -> list[RankedCause]:
    chains = error_chains(graph, service, since_ns, limit=20)
    groups: dict[tuple[str, str], list[ErrorChain]] = {}
    for chain in chains:
        groups.setdefault((chain.root_cause.service, chain.root_cause.operation), []).append(chain)
    involved = {service} | {s.service for c in chains for s in c.steps}
    anomalies = {svc: graph.anomalies.of_service(svc, since_ns) for svc in sorted(involved)}
    ranked: list[RankedCause] = []
    for (svc, op), group in groups.items():
        found = anomalies.get(svc, [])
        message = next((c.root_cause.status_message for c in group
                        if c.root_cause.status_message), "")  # fmt: skip
        evidence = [f"{len(group)} of {len(chains)} error chains end in {svc} {op}"]
        if message:
            evidence.append(f"error message: {message}")
        evidence += [f"anomaly: {a.evidence}" for a in found]
        ranked.append(RankedCause(
            svc, op, float(len(group) + 2 * len(found)), tuple(evidence), len(group),
            tuple(c.trace_id for c in group), message, tuple(found),
        ))  # fmt: skip
    roots = {svc for svc, _ in groups}
    for svc, found in anomalies.items():
        if found and svc not in roots:
            ranked.append(RankedCause(
                svc, "", 2.0 * len(found), tuple(f"anomaly: {a.evidence}" for a in found),
                0, (), "", tuple(found),
            ))  # fmt: skip
    ranked.sort(key=lambda r: (-r.score, r.service, r.operation))
    return ranked


def dependency_chain(graph: TenantGraph, trace_id: str) -> list[tuple[SpanNode, int]] | None:
    """The trace's held spans by start time, each with its depth; None if not held."""
    trace = graph.traces.trace(trace_id)
    if trace is None:
        return None
    depth: dict[str, int] = {}
    held = trace.spans

    def depth_of(span: SpanNode) -> int:
        chain: list[SpanNode] = []
        on_chain: set[str] = set()
        cur: SpanNode | None = span
        while cur is not None and cur.span_id not in depth and cur.span_id not in on_chain:
            chain.append(cur)
            on_chain.add(cur.span_id)
            cur = held.get(cur.parent_span_id)
        # a cycle (cur on the chain) counts from 0 like a missing parent
        d = depth[cur.span_id] + 1 if cur is not None and cur.span_id in depth else 0
        for s in reversed(chain):
            depth[s.span_id] = d
            d += 1
        return depth[span.span_id]

    spans = sorted(held.values(), key=lambda s: (s.start_ns, s.span_id))
    return [(s, depth_of(s)) for s in spans]


@dataclass(frozen=True, slots=True)
class Correlated:
    service: str
    error_logs: list[LogCluster]
    metrics: list[MetricNode]
    anomalies: list[Anomaly]
    error_chains: list[ErrorChain]


def correlated(graph: TenantGraph, service: str, since_ns: int) -> Correlated:
    return Correlated(
        service=service,
        error_logs=graph.signals.clusters_of(service, since_ns, WARN_SEVERITY),
        metrics=graph.signals.metrics_of(service),
        anomalies=graph.anomalies.of_service(service, since_ns),
        error_chains=error_chains(graph, service, since_ns, limit=5),
    )


def shortest_path(
    graph: TenantGraph, source: str, target: str, now_ns: int
) -> tuple[list[str], float] | None:
    """Cheapest path between two services over CALLS in either direction, where an edge
    costs ``1 / max(1, calls in the last 15 min)`` (busy links are short); None if none."""
    store = graph.services
    if source not in store.services or target not in store.services:
        return None

    def cost(a: str, b: str) -> float:
        calls = 0
        for key in ((a, b), (b, a)):
            edge = store.edges.get(key)
            if edge is not None:
                calls = max(calls, edge.window.calls(now_ns, SLOTS))
        return 1.0 / max(1, calls)

    best = {source: 0.0}
    previous: dict[str, str] = {}
    queue: list[tuple[float, str]] = [(0.0, source)]
    while queue:
        dist, node = heapq.heappop(queue)
        if node == target:
            path = [node]
            while path[-1] != source:
                path.append(previous[path[-1]])
            return path[::-1], dist
        if dist > best.get(node, float("inf")):
            continue
        for nb in sorted(store.callees.get(node, set()) | store.callers.get(node, set())):
            d = dist + cost(node, nb)
            if d < best.get(nb, float("inf")):
                best[nb] = d
                previous[nb] = node
                heapq.heappush(queue, (d, nb))
    return None
