"""Investigation records and the cooldown that keeps them from repeating.

An :class:`Investigation` is what an error spike looked like when it was detected (built
by ``otelctx.graph.investigate``), kept per tenant for people to read.

A :class:`Cooldown` allows one investigation per key per window, the key being the
canonical (lower-cased, trimmed) trigger service, root service and root operation, so
``Orders``, `` orders `` and ``ORDERS`` are one key. A suppressed attempt does not move
the window. The janitor drops keys older than the window and, beyond
``max_keys``, the oldest, so the map stays bounded.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from otelctx.graph.anomalies import Severity


class Status:
    """Investigation status values (persisted as text)."""

    DETECTED = "detected"
    ALL = ("detected", "investigating", "resolved")


@dataclass(frozen=True, slots=True)
class ChainStep:
    service: str
    operation: str
    span_id: str
    is_error: bool


@dataclass(frozen=True, slots=True)
class SpanRef:
    trace_id: str
    span_id: str
    parent_span_id: str
    service: str
    operation: str
    start_ns: int
    duration_ns: int
    is_error: bool
    status_message: str


@dataclass(frozen=True, slots=True)
class LogRef:
    id: str
    service: str
    template: str
    sample: str
    count: int
    max_severity: int
    last_seen_ns: int


@dataclass(frozen=True, slots=True)
class MetricRef:
    service: str
    name: str
    value: float
    mean: float
    z_score: float


@dataclass(frozen=True, slots=True)
class Investigation:
    """One row of ``investigations`` (the lists are JSON columns there)."""

    id: str
    tenant_id: str
    created_ns: int
    status: str
    severity: Severity
    trigger_service: str
    trigger_operation: str
    error_message: str
    root_service: str
    root_operation: str
    causal_chain: tuple[ChainStep, ...]
    trace_ids: tuple[str, ...]
    error_logs: tuple[LogRef, ...]
    anomalous_metrics: tuple[MetricRef, ...]
    affected_services: tuple[str, ...]
    span_chain: tuple[SpanRef, ...]
    anomaly_ids: tuple[str, ...]


def canonical_key(trigger: str, root_service: str, root_operation: str) -> str:
    return "|".join(part.strip().lower() for part in (trigger, root_service, root_operation))


class Cooldown:
    def __init__(self, window_ns: int, max_keys: int) -> None:
        self.window_ns = window_ns
        self.max_keys = max_keys
        self._last: OrderedDict[str, int] = OrderedDict()  # key -> last allowed, oldest first

    def __len__(self) -> int:
        return len(self._last)

    def allow(self, trigger: str, root_service: str, root_operation: str, now_ns: int) -> bool:
        key = canonical_key(trigger, root_service, root_operation)
        last = self._last.get(key)
        if last is not None and now_ns - last < self.window_ns:
            return False
        self._last.pop(key, None)
        self._last[key] = now_ns
        if len(self._last) > self.max_keys:
            self._last.popitem(last=False)
        return True

    def janitor(self, now_ns: int) -> int:
        """Drop keys whose window has passed; return how many."""
        dropped = 0
        while self._last:
            key, last = next(iter(self._last.items()))
            if now_ns - last < self.window_ns:
                break
            del self._last[key]
            dropped += 1
        return dropped
