"""Turning error-spike anomalies into investigations (``investigations.Investigation``).

An investigation is built from the trigger service's error chains of the last
``CHAIN_WINDOW_NS``: the causal chain and span chain of the longest chain, every chain's
trace id, the error log clusters met on the chains, anomalous metrics (|z| > 3) of the
services involved, the affected services (the trigger and its blast radius, 3 hops) and
the active anomalies of the services involved. No chain, no investigation; inside the
tenant's cooldown (keyed on the canonical trigger, root service and root operation),
no investigation either.
"""

from __future__ import annotations

import itertools

from otelctx.graph.anomalies import Z_THRESHOLD, Anomaly, AnomalyType, Severity
from otelctx.graph.investigations import (
    ChainStep,
    Investigation,
    LogRef,
    MetricRef,
    SpanRef,
    Status,
)
from otelctx.graph.queries import ErrorChain, error_chains, impact
from otelctx.graph.tenant import TenantGraph

CHAIN_WINDOW_NS = 300 * 1_000_000_000
AFFECTED_DEPTH = 3
_ids = itertools.count()


def investigate(graph: TenantGraph, seen: list[Anomaly], now_ns: int) -> list[Investigation]:
    """Investigations for this tick's error spikes: one per distinct root cause.

    A failure deep in the call graph makes its callers spike too, and their chains end in
    the same root cause: those spikes make one investigation, triggered by the root
    cause's own service when it spikes (else the highest error rate), and affecting the
    union of their blast radii. Each is subject to the cooldown.
    """
    groups: dict[tuple[str, str], list[tuple[Anomaly, list[ErrorChain]]]] = {}
    for anomaly in seen:
        if anomaly.type is not AnomalyType.ERROR_SPIKE:
            continue
        chains = error_chains(graph, anomaly.service, now_ns - CHAIN_WINDOW_NS, limit=5)
        # Children arrive before their parents: the newest chain may still lack its top.
        # The longest (then the newest) shows the most of the path.
        chains.sort(key=lambda c: -len(c.steps))
        if chains:
            root = chains[0].root_cause
            key = (root.service.strip().lower(), root.operation.strip().lower())
            groups.setdefault(key, []).append((anomaly, chains))
    out = []
    for (root_service, _), members in sorted(groups.items()):
        own = [m for m in members if m[0].service.strip().lower() == root_service]
        trigger, chains = min(own or members, key=lambda m: (-m[0].value, m[0].service))
        root = chains[0].root_cause
        if not graph.cooldown.allow(trigger.service, root.service, root.operation, now_ns):
            continue
        affected: list[str] = []
        # the trigger's blast radius first (nearest first), then the other spiking services'
        others = sorted(a.service for a, _ in members if a is not trigger)
        for service in [trigger.service, *others]:
            reached = impact(graph, service, AFFECTED_DEPTH, now_ns)
            for name in [service] + [i.service for i in reached]:
                if name not in affected:
                    affected.append(name)
        critical = any(a.severity is Severity.CRITICAL for a, _ in members)
        out.append(_build(graph, trigger, chains, affected, critical, now_ns))
    return out


def _build(
    graph: TenantGraph,
    trigger: Anomaly,
    chains: list[ErrorChain],
    affected: list[str],
    critical: bool,
    now_ns: int,
) -> Investigation:
    first = chains[0]
    root = first.root_cause
    involved = {s.service for c in chains for s in c.steps} | set(affected)
    metrics = [
        MetricRef(m.service, m.name, m.last_value, m.mean, round(m.last_z, 3))
        for svc in sorted(involved)
        for m in graph.signals.metrics_of(svc)
        if abs(m.last_z) > Z_THRESHOLD
    ]
    logs: dict[str, LogRef] = {}
    for chain in chains:
        for c in chain.logs:
            logs.setdefault(c.id, LogRef(c.id, c.service, c.template, c.sample, c.count,
                                         c.max_severity, c.last_seen_ns))  # fmt: skip
    related = sorted(a.id for a in graph.anomalies.active.values() if a.service in involved)
    return Investigation(
        id=f"inv_{now_ns:x}{next(_ids) % 0x10000:04x}",
        tenant_id=graph.tenant_id,
        created_ns=now_ns,
        status=Status.DETECTED,
        severity=Severity.CRITICAL if critical else Severity.WARNING,
        trigger_service=trigger.service,
        trigger_operation=first.trigger.operation,
        error_message=root.status_message,
        root_service=root.service,
        root_operation=root.operation,
        causal_chain=tuple(ChainStep(s.service, s.operation, s.span_id, s.is_error)
                           for s in first.steps),
        trace_ids=tuple(c.trace_id for c in chains),
        error_logs=tuple(logs.values()),
        anomalous_metrics=tuple(metrics),
        affected_services=tuple(affected),
        span_chain=tuple(
            SpanRef(s.trace_id, s.span_id, s.parent_span_id, s.service, s.operation,
                    s.start_ns, s.duration_ns, s.is_error, s.status_message)
            for s in first.steps
        ),
        anomaly_ids=tuple(related),
    )  # fmt: skip
