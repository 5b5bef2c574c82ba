"""Windowed call statistics: a ring of one-minute slots with a latency histogram.

A :class:`Window` answers "how many calls, errors, what latency over the last *k*
minutes" without keeping every sample: each slot holds the minute it belongs to, its
call and error counts, the summed duration and a sparse log-scale histogram of
durations. A slot is reused (and reset) when a later minute maps onto it, so memory per
window is bounded by ``SLOTS`` whatever the traffic.

Contract:

- Samples are placed by *their own* time (a span's end, clamped to ``now_ns`` so a
  clock ahead of ours cannot reach into the future). A sample older than the ring
  (``SLOTS`` minutes before ``now_ns``) is ignored: it is history, not current load.
- Reads count the slots whose minute lies in ``(now_minute - minutes, now_minute]``.
- Percentiles come from the histogram: 8 buckets per power of two, so a reported value
  is within about 5% of the true one. Durations below 1 µs count as 1 µs.
- Updates are commutative: the same samples in any order give the same window, which
  is what makes the graph independent of span arrival order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SLOT_NS = 60 * 1_000_000_000
SLOTS = 15
RECENT_MINUTES = 5
"""The window rates, averages and percentiles are computed over (``request_rate`` is per second
of it)."""

_BUCKETS_PER_OCTAVE = 8
_MIN_NS = 1_000


def bucket_of(duration_ns: int) -> int:
    """Histogram bucket index of a duration (log scale, 8 buckets per doubling)."""
    return int(math.log2(max(duration_ns, _MIN_NS)) * _BUCKETS_PER_OCTAVE)


def bucket_value(index: int) -> float:
    """A representative duration (ns) of a bucket: its geometric middle."""
    return float(2 ** ((index + 0.5) / _BUCKETS_PER_OCTAVE))


@dataclass(frozen=True, slots=True)
class WindowStats:
    calls: int
    errors: int
    total_ns: int
    p50_ns: float
    p95_ns: float
    p99_ns: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0

    @property
    def avg_ns(self) -> float:
        return self.total_ns / self.calls if self.calls else 0.0


EMPTY = WindowStats(0, 0, 0, 0.0, 0.0, 0.0)


class Window:
    """Ring of one-minute slots; see the module docstring for the contract."""

    __slots__ = ("_calls", "_errors", "_hist", "_minute", "_total")

    def __init__(self) -> None:
        self._minute = [-1] * SLOTS
        self._calls = [0] * SLOTS
        self._errors = [0] * SLOTS
        self._total = [0] * SLOTS
        self._hist: list[dict[int, int] | None] = [None] * SLOTS

    def add(self, time_ns: int, duration_ns: int, is_error: bool, now_ns: int) -> bool:
        """Count one call ending at ``time_ns``; False when it is older than the ring."""
        minute = min(time_ns, now_ns) // SLOT_NS
        if minute <= now_ns // SLOT_NS - SLOTS:
            return False
        slot = minute % SLOTS
        current = self._minute[slot]
        if current != minute:
            if current > minute:
                return False  # the slot already holds a later minute: this one expired
            self._minute[slot] = minute
            self._calls[slot] = 0
            self._errors[slot] = 0
            self._total[slot] = 0
            self._hist[slot] = None
        self._calls[slot] += 1
        if is_error:
            self._errors[slot] += 1
        self._total[slot] += duration_ns
        hist = self._hist[slot]
        if hist is None:
            hist = self._hist[slot] = {}
        b = bucket_of(duration_ns)
        hist[b] = hist.get(b, 0) + 1
        return True

    def _slots(self, now_ns: int, minutes: int) -> list[int]:
        newest = now_ns // SLOT_NS
        oldest = newest - min(minutes, SLOTS)
        return [i for i, m in enumerate(self._minute) if oldest < m <= newest]

    def calls(self, now_ns: int, minutes: int = RECENT_MINUTES) -> int:
        return sum(self._calls[i] for i in self._slots(now_ns, minutes))

    def stats(self, now_ns: int, minutes: int = RECENT_MINUTES) -> WindowStats:
        slots = self._slots(now_ns, minutes)
        calls = sum(self._calls[i] for i in slots)
        if not calls:
            return EMPTY
        merged: dict[int, int] = {}
        for i in slots:
            for b, n in (self._hist[i] or {}).items():
                merged[b] = merged.get(b, 0) + n
        p50, p95, p99 = percentiles(merged, calls, (0.50, 0.95, 0.99))
        return WindowStats(
            calls=calls,
            errors=sum(self._errors[i] for i in slots),
            total_ns=sum(self._total[i] for i in slots),
            p50_ns=p50,
            p95_ns=p95,
            p99_ns=p99,
        )

    def last_minute(self) -> int:
        """The newest minute with a sample, -1 if none (for idle pruning)."""
        return max(self._minute)


def percentiles(hist: dict[int, int], total: int, qs: tuple[float, ...]) -> list[float]:
    """Nearest-rank percentiles of a histogram holding ``total`` samples."""
    out: list[float] = []
    ordered = sorted(hist.items())
    for q in qs:
        rank = max(1, math.ceil(q * total))
        seen = 0
        value = 0.0
        for b, n in ordered:
            seen += n
            if seen >= rank:
                value = bucket_value(b)
                break
        out.append(value)
    return out
