"""Anomalies: one per (service, type) while it lasts, against learned baselines.

:func:`detect` is called on every anomaly tick. For each service it reads the last
``DETECT_MINUTES`` (two one-minute slots: short enough that a spike is not diluted by
five quiet minutes) and compares them with a per-service baseline:

- **error_spike**: the error rate exceeds ``max(2 * b, b + 0.05)`` where ``b`` is the
  baseline error rate (an EWMA of the windowed rate, starting at the original's assumed
  2% and never below ``ERROR_FLOOR``), over at least ``MIN_CALLS`` calls. Severity:
  critical above 20%, warning above 10%, else info (the original's thresholds).
- **latency_spike**: p95 exceeds ``max(2 * b, b + 50 ms)`` where ``b`` is the learned p95
  (after ``LATENCY_WARMUP_TICKS`` observations), over at least ``MIN_CALLS`` calls.
  Severity: critical at 5x the baseline or above 2 s, warning at 3x or above 1 s.
- **metric_zscore**: a metric's newest value lies more than ``Z_THRESHOLD`` standard
  deviations from its EWMA mean (see ``signals.MetricNode``), within ``METRIC_RECENT_NS``.
  Warning, critical beyond twice the threshold.

Baselines learn with ``ALPHA`` per tick, and ten times slower while the service is in an
anomaly of that type, so a spike does not teach itself away within a minute but a
lasting new normal is accepted eventually.

An anomaly starts when a breach is first seen, is refreshed (``last_seen``, ``value``,
severity only escalates) while the breach lasts, and ends when it has not been seen for
``CLEAR_AFTER_NS``. Ended anomalies stay readable for ``HISTORY_NS`` (24 h). Its id is
fixed at the start, so a long breach is one anomaly, never a new node per tick.
"""

from __future__ import annotations

import enum
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from otelctx.graph.drain import template_id

if TYPE_CHECKING:
    from otelctx.graph.tenant import TenantGraph

MIN_CALLS = 10
DETECT_MINUTES = 2
ALPHA = 0.1
ERROR_BASELINE_START = 0.02
ERROR_FLOOR = 0.01
ERROR_MARGIN = 0.05
LATENCY_MARGIN_NS = 50_000_000
LATENCY_WARMUP_TICKS = 3
Z_THRESHOLD = 3.0
METRIC_RECENT_NS = 120 * 1_000_000_000
CLEAR_AFTER_NS = 30 * 1_000_000_000
HISTORY_NS = 24 * 3600 * 1_000_000_000
MAX_HISTORY = 10_000


class AnomalyType(enum.Enum):
    ERROR_SPIKE = "error_spike"
    LATENCY_SPIKE = "latency_spike"
    METRIC_ZSCORE = "metric_zscore"


class Severity(enum.IntEnum):
    INFO = 1
    WARNING = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(slots=True)
class Anomaly:
    id: str
    service: str
    type: AnomalyType
    severity: Severity
    started_ns: int
    last_seen_ns: int
    value: float
    baseline: float
    peak: float
    evidence: str
    ended_ns: int | None = None

    @property
    def active(self) -> bool:
        return self.ended_ns is None


@dataclass(slots=True)
class _Baseline:
    error_rate: float = ERROR_BASELINE_START
    p95_ns: float = 0.0
    latency_ticks: int = 0


@dataclass(frozen=True, slots=True)
class _Breach:
    service: str
    type: AnomalyType
    severity: Severity
    value: float
    baseline: float
    evidence: str


class AnomalyStore:
    def __init__(self) -> None:
        self.active: dict[tuple[str, AnomalyType], Anomaly] = {}
        self.history: OrderedDict[str, Anomaly] = OrderedDict()  # ended, oldest first
        self.baselines: dict[str, _Baseline] = {}

    def all(self) -> list[Anomaly]:
        return [*self.history.values(), *self.active.values()]

    def of_service(self, service: str, since_ns: int) -> list[Anomaly]:
        return [a for a in self.all() if a.service == service and a.last_seen_ns >= since_ns]

    def timeline(self, since_ns: int) -> list[Anomaly]:
        """Anomalies seen since ``since_ns``, newest start first."""
        found = [a for a in self.all() if a.last_seen_ns >= since_ns]
        found.sort(key=lambda a: (-a.started_ns, a.id))
        return found

    def observe(self, breach: _Breach, now_ns: int) -> Anomaly:
        key = (breach.service, breach.type)
        anomaly = self.active.get(key)
        if anomaly is None:
            h = template_id((breach.service, breach.type.value))
            anomaly = Anomaly(
                id=f"anom_{breach.type.value}_{now_ns:x}_{h & 0xFFFFFFFF:08x}",
                service=breach.service, type=breach.type, severity=breach.severity,
                started_ns=now_ns, last_seen_ns=now_ns, value=breach.value,
                baseline=breach.baseline, peak=breach.value, evidence=breach.evidence,
            )  # fmt: skip
            self.active[key] = anomaly
            return anomaly
        anomaly.last_seen_ns = now_ns
        anomaly.value = breach.value
        anomaly.baseline = breach.baseline
        anomaly.evidence = breach.evidence
        anomaly.peak = max(anomaly.peak, breach.value)
        anomaly.severity = max(anomaly.severity, breach.severity)
        return anomaly

    def close_stale(self, now_ns: int) -> None:
        for key in [k for k, a in self.active.items() if a.last_seen_ns < now_ns - CLEAR_AFTER_NS]:
            anomaly = self.active.pop(key)
            anomaly.ended_ns = now_ns
            self.history[anomaly.id] = anomaly
        while len(self.history) > MAX_HISTORY:
            self.history.popitem(last=False)

    def prune(self, now_ns: int, services: set[str]) -> None:
        cutoff = now_ns - HISTORY_NS
        for aid in [i for i, a in self.history.items() if a.last_seen_ns < cutoff]:
            del self.history[aid]
        for name in [s for s in self.baselines if s not in services]:
            del self.baselines[name]


def _error_severity(rate: float) -> Severity:
    if rate > 0.20:
        return Severity.CRITICAL
    if rate > 0.10:
        return Severity.WARNING
    return Severity.INFO


def _latency_severity(p95_ns: float, baseline_ns: float) -> Severity:
    ratio = p95_ns / baseline_ns if baseline_ns > 0 else math.inf
    if ratio >= 5 or p95_ns > 2e9:
        return Severity.CRITICAL
    if ratio >= 3 or p95_ns > 1e9:
        return Severity.WARNING
    return Severity.INFO


def _learn(old: float, new: float, in_anomaly: bool) -> float:
    alpha = ALPHA / 10 if in_anomaly else ALPHA
    return old + alpha * (new - old)


def detect(graph: TenantGraph, now_ns: int) -> list[Anomaly]:
    """One anomaly tick over ``graph``: update baselines and the anomaly store; return the
    anomalies seen in this tick (newly started or continuing)."""
    store = graph.anomalies
    breaches: list[_Breach] = []
    for service in graph.services.services.values():
        stats = service.window.stats(now_ns, DETECT_MINUTES)
        if stats.calls < MIN_CALLS:
            continue
        name = service.name
        base = store.baselines.get(name)
        if base is None:
            base = store.baselines[name] = _Baseline()
        # errors
        b = max(base.error_rate, ERROR_FLOOR)
        threshold = max(2 * b, b + ERROR_MARGIN)
        rate = stats.error_rate
        if rate > threshold:
            breaches.append(_Breach(
                name, AnomalyType.ERROR_SPIKE, _error_severity(rate), rate, b,
                f"error rate {rate:.1%} over {stats.calls} calls in the last "
                f"{DETECT_MINUTES} min (baseline {b:.1%})",
            ))  # fmt: skip
        in_err = (name, AnomalyType.ERROR_SPIKE) in store.active
        base.error_rate = _learn(base.error_rate, rate, in_err or rate > threshold)
        # latency
        p95 = stats.p95_ns
        warm = base.latency_ticks >= LATENCY_WARMUP_TICKS
        slow = warm and p95 > max(2 * base.p95_ns, base.p95_ns + LATENCY_MARGIN_NS)
        if slow:
            breaches.append(_Breach(
                name, AnomalyType.LATENCY_SPIKE, _latency_severity(p95, base.p95_ns),
                p95 / 1e6, base.p95_ns / 1e6,
                f"p95 latency {p95 / 1e6:.1f} ms over {stats.calls} calls in the last "
                f"{DETECT_MINUTES} min (baseline {base.p95_ns / 1e6:.1f} ms)",
            ))  # fmt: skip
        in_lat = slow or (name, AnomalyType.LATENCY_SPIKE) in store.active
        base.p95_ns = p95 if not base.latency_ticks else _learn(base.p95_ns, p95, in_lat)
        base.latency_ticks += 1
    breaches.extend(_metric_breaches(graph, now_ns))
    seen = [store.observe(b, now_ns) for b in breaches]
    store.close_stale(now_ns)
    return seen


def _metric_breaches(graph: TenantGraph, now_ns: int) -> list[_Breach]:
    worst: dict[str, tuple[float, str, float, float]] = {}
    for m in graph.signals.metrics.values():
        if m.last_seen_ns < now_ns - METRIC_RECENT_NS or abs(m.last_z) <= Z_THRESHOLD:
            continue
        current = worst.get(m.service)
        if current is None or abs(m.last_z) > abs(current[0]):
            worst[m.service] = (m.last_z, m.name, m.last_value, m.mean)
    out = []
    for service, (z, name, value, mean) in sorted(worst.items()):
        severity = Severity.CRITICAL if abs(z) > 2 * Z_THRESHOLD else Severity.WARNING
        out.append(_Breach(
            service, AnomalyType.METRIC_ZSCORE, severity, z, mean,
            f"metric {name} = {value:g}, z-score {z:+.1f} against its recent mean {mean:g}",
        ))  # fmt: skip
    return out
