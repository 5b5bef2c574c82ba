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
from typing import Any

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


def sample_of(time_ns: int, duration_ns: int, now_ns: int) -> tuple[int, int]:
    """(minute, bucket) of a call ending at ``time_ns``: what :meth:`Window.record` takes,
    computed once per span for the service, operation and edge windows."""
    return min(time_ns, now_ns) // SLOT_NS, bucket_of(duration_ns)


class Window:
    """Ring of one-minute slots; see the module docstring for the contract.

    A slot is ``[minute, calls, errors, total_ns, histogram]``, allocated on first use.
    """

    __slots__ = ("_slots",)

    def __init__(self) -> None:
        self._slots: list[list[Any] | None] = [None] * SLOTS

    def add(self, time_ns: int, duration_ns: int, is_error: bool, now_ns: int) -> bool:
        """Count one call ending at ``time_ns``; False when it is older than the ring."""
        minute, bucket = sample_of(time_ns, duration_ns, now_ns)
        return self.record(minute, now_ns // SLOT_NS, duration_ns, bucket, is_error)

    def record(
        self, minute: int, now_minute: int, duration_ns: int, bucket: int, is_error: bool
    ) -> bool:
        """:meth:`add` with the minute and bucket already computed (the hot path)."""
        i = minute % SLOTS
        slot = self._slots[i]
        if slot is None or slot[0] != minute:
            if minute <= now_minute - SLOTS or (slot is not None and slot[0] > minute):
                return False  # older than the ring, or the slot holds a later minute
            slot = self._slots[i] = [minute, 0, 0, 0, {}]
        slot[1] += 1
        if is_error:
            slot[2] += 1
        slot[3] += duration_ns
        hist = slot[4]
        hist[bucket] = hist.get(bucket, 0) + 1
        return True

    def _live(self, now_ns: int, minutes: int) -> list[list[Any]]:
        newest = now_ns // SLOT_NS
        oldest = newest - min(minutes, SLOTS)
        return [s for s in self._slots if s is not None and oldest < s[0] <= newest]

    def calls(self, now_ns: int, minutes: int = RECENT_MINUTES) -> int:
        return sum(s[1] for s in self._live(now_ns, minutes))

    def stats(self, now_ns: int, minutes: int = RECENT_MINUTES) -> WindowStats:
        live = self._live(now_ns, minutes)
        calls = sum(s[1] for s in live)
        if not calls:
            return EMPTY
        merged: dict[int, int] = {}
        for s in live:
            for b, n in s[4].items():
                merged[b] = merged.get(b, 0) + n
        p50, p95, p99 = percentiles(merged, calls, (0.50, 0.95, 0.99))
        return WindowStats(
            calls=calls,
            errors=sum(s[2] for s in live),
            total_ns=sum(s[3] for s in live),
            p50_ns=p50,
            p95_ns=p95,
            p99_ns=p99,
        )


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
