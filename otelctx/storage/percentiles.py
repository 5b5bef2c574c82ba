"""Percentiles of merged histogram and summary points: pure arithmetic, no I/O.

A ``Distribution`` takes the histogram, exponential histogram and summary points of one
time bucket (their ``MetricPoint.data`` as stored, plus min and max) and estimates
quantiles of everything they observed together:

- Explicit histograms: points with the same bounds add up their bucket counts. Each
  bucket's count is spread uniformly over it (linear interpolation inside the bucket).
  The unbounded first bucket starts at the merged min when known, else at 0 when its
  upper bound is positive (as Prometheus does), else it is a point at its bound; the
  unbounded last bucket ends at the merged max when known, else it is a point at its
  lower bound.
- Exponential histograms: buckets of base ``2**(2**-scale)``, index ``i`` covering
  ``(base**i, base**(i+1)]`` (negative: the mirror image); points of different scales
  are brought down to the smallest scale first. The zero bucket is a point at 0.
- Summaries: no buckets to merge. For each quantile asked, the points' reported value
  of that quantile (or, when none reports it, of the nearest reported quantile) and the
  largest of those across the points: an upper estimate, never an average of quantiles.

When both bucketed points and summaries are present, the bucketed estimate wins.
Every estimate is clamped to the merged [min, max] when those are known, and is None
when nothing was observed or it cannot be finite. Malformed data (wrong types, counts
and bounds that do not line up) is skipped, never raised: this runs over stored data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from otelctx.model import MetricType

# Lowest scale worth keeping buckets at: beyond it every index collapses (OTLP: -10).
_MIN_SCALE = -10
_MAX_SCALE = 20


@dataclass(frozen=True, slots=True)
class Mass:
    """``count`` observations spread uniformly over ``[lo, hi]`` (a point when lo == hi)."""

    lo: float
    hi: float
    count: float


def quantile(masses: Iterable[Mass], q: float) -> float | None:
    """The smallest x where the mixture's cumulative count reaches ``q`` of its total.

    A sweep over the masses' ends: between two ends the cumulative count grows linearly
    (the slopes of the masses spanning the gap, summed afresh at each end so that a very
    narrow, very steep mass cannot cancel the others out), at a point mass it jumps.
    O(n log n + n * overlap) for n masses; None when the total is 0 or a bound is not
    finite.
    """
    ms = [m for m in masses if m.count > 0]
    total = math.fsum(m.count for m in ms)
    if not ms or total <= 0 or not all(math.isfinite(m.lo) and math.isfinite(m.hi) for m in ms):
        return None
    target = min(max(q, 0.0), 1.0) * total
    starts: dict[float, list[int]] = {}
    ends: dict[float, list[int]] = {}
    jumps: dict[float, float] = {}
    for i, m in enumerate(ms):
        if m.hi <= m.lo:
            jumps[m.lo] = jumps.get(m.lo, 0.0) + m.count
        elif not math.isfinite(m.count / (m.hi - m.lo)):  # too narrow to spread over
            jumps[m.hi] = jumps.get(m.hi, 0.0) + m.count
        else:
            starts.setdefault(m.lo, []).append(i)
            ends.setdefault(m.hi, []).append(i)
    active: dict[int, float] = {}
    cum = slope = 0.0
    points = sorted({*starts, *ends, *jumps})
    prev = points[0]
    for x in points:
        reach = cum + slope * (x - prev)  # just left of x
        if slope > 0 and reach >= target:
            return min(x, prev + (target - cum) / slope)
        cum = reach + jumps.get(x, 0.0)
        if cum >= target:
            return x
        for i in ends.get(x, ()):
            del active[i]
        for i in starts.get(x, ()):
            active[i] = ms[i].count / (ms[i].hi - ms[i].lo)
        slope = math.fsum(active.values())
        prev = x
    return points[-1]  # rounding left the target a hair above the total


def summary_value(reported: Mapping[float, float], q: float) -> float | None:
    """The value reported for quantile ``q``, else for the nearest reported quantile
    (the higher one on a tie); None when nothing is reported."""
    if not reported:
        return None
    if q in reported:
        return reported[q]
    nearest = min(reported, key=lambda k: (abs(k - q), -k))
    return reported[nearest]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _counts(value: Any) -> list[float] | None:
    if not isinstance(value, list):
        return None
    out = [_number(c) for c in value]
    if any(c is None or c < 0 for c in out):
        return None
    return [c for c in out if c is not None]


def _pow2(exponent: float) -> float:
    if exponent > 1023:
        return math.inf
    if exponent < -1074:
        return 0.0
    return float(2.0**exponent)


class Distribution:
    """Accumulates the distribution points of one bucket; ``quantile`` estimates."""

    __slots__ = ("_explicit", "_exponential", "_max", "_min", "_summary", "_zero")

    def __init__(self) -> None:
        self._explicit: dict[tuple[float, ...], list[float]] = {}
        # scale -> (positive index -> count, negative index -> count)
        self._exponential: dict[int, tuple[dict[int, float], dict[int, float]]] = {}
        self._zero = 0.0
        self._summary: dict[float, float] = {}
        self._min: float | None = None
        self._max: float | None = None

    def add(
        self, kind: MetricType, data: Any, min_: float | None = None, max_: float | None = None
    ) -> None:
        """Add one point (``data`` as stored in ``metric_points.data``)."""
        if not isinstance(data, dict):
            return
        lo, hi = _number(min_), _number(max_)
        if lo is not None:
            self._min = lo if self._min is None else min(self._min, lo)
        if hi is not None:
            self._max = hi if self._max is None else max(self._max, hi)
        if kind is MetricType.HISTOGRAM:
            self._add_explicit(data)
        elif kind is MetricType.EXPONENTIAL_HISTOGRAM:
            self._add_exponential(data)
        elif kind is MetricType.SUMMARY:
            self._add_summary(data)

    def _add_explicit(self, data: dict[str, Any]) -> None:
        counts = _counts(data.get("bucket_counts"))
        raw_bounds = data.get("explicit_bounds")
        if counts is None or not isinstance(raw_bounds, list):
            return
        bounds = [_number(b) for b in raw_bounds]
        if any(b is None for b in bounds) or len(counts) != len(bounds) + 1:
            return
        key = tuple(b for b in bounds if b is not None)
        if list(key) != sorted(key):
            return
        acc = self._explicit.get(key)
        if acc is None:
            self._explicit[key] = counts
        else:
            for i, c in enumerate(counts):
                acc[i] += c

    def _add_exponential(self, data: dict[str, Any]) -> None:
        scale = data.get("scale")
        if isinstance(scale, bool) or not isinstance(scale, int):
            return
        scale = max(_MIN_SCALE, min(_MAX_SCALE, scale))
        zero = _number(data.get("zero_count", 0))
        if zero is not None and zero > 0:
            self._zero += zero
        pos, neg = self._exponential.setdefault(scale, ({}, {}))
        for side, acc in (("positive", pos), ("negative", neg)):
            buckets = data.get(side)
            if not isinstance(buckets, dict):
                continue
            offset = buckets.get("offset", 0)
            counts = _counts(buckets.get("bucket_counts"))
            if isinstance(offset, bool) or not isinstance(offset, int) or counts is None:
                continue
            for i, c in enumerate(counts):
                if c:
                    acc[offset + i] = acc.get(offset + i, 0.0) + c

    def _add_summary(self, data: dict[str, Any]) -> None:
        quantiles = data.get("quantiles")
        if not isinstance(quantiles, list):
            return
        for entry in quantiles:
            if not isinstance(entry, dict):
                continue
            q, v = _number(entry.get("quantile")), _number(entry.get("value"))
            if q is None or v is None:
                continue
            if q not in self._summary or v > self._summary[q]:
                self._summary[q] = v

    def masses(self) -> list[Mass]:
        """The merged buckets as masses (summaries have none)."""
        out: list[Mass] = []
        for bounds, counts in self._explicit.items():
            out += self._explicit_masses(bounds, counts)
        if self._exponential:
            out += self._exponential_masses()
        if self._zero:
            out.append(Mass(0.0, 0.0, self._zero))
        return out

    def _explicit_masses(self, bounds: tuple[float, ...], counts: list[float]) -> list[Mass]:
        if not bounds:  # one bucket holding everything
            if self._min is None or self._max is None:
                return []
            return [Mass(self._min, max(self._min, self._max), counts[0])]
        # (each bucket is then narrowed to [min, max]: a bucket (0, 100] whose points all
        # lie below a max of 50 spreads its count over (0, 50])
        out = []
        first, last = bounds[0], bounds[-1]
        lo0 = min(self._min, first) if self._min is not None else 0.0 if first > 0 else first
        hi_n = max(self._max, last) if self._max is not None else last
        for i, c in enumerate(counts):
            lo = lo0 if i == 0 else bounds[i - 1]
            hi = bounds[i] if i < len(bounds) else hi_n
            out.append(self._bounded(Mass(lo, hi, c)))
        return out

    def _exponential_masses(self) -> list[Mass]:
        scale = min(self._exponential)
        pos: dict[int, float] = {}
        neg: dict[int, float] = {}
        for s, (p, n) in self._exponential.items():
            shift = s - scale  # coarser by 2**shift: index i -> i >> shift
            for src, dst in ((p, pos), (n, neg)):
                for i, c in src.items():
                    j = i >> shift
                    dst[j] = dst.get(j, 0.0) + c
        step = 2.0**-scale
        out = [Mass(_pow2(i * step), _pow2((i + 1) * step), c) for i, c in pos.items()]
        out += [Mass(-_pow2((i + 1) * step), -_pow2(i * step), c) for i, c in neg.items()]
        return [self._bounded(m) for m in out]

    def _bounded(self, m: Mass) -> Mass:
        lo, hi = m.lo, m.hi
        if self._min is not None:
            lo, hi = max(lo, self._min), max(hi, self._min)
        if self._max is not None:
            lo, hi = min(lo, self._max), min(hi, self._max)
        return Mass(lo, hi, m.count)

    def quantile(self, q: float) -> float | None:
        masses = self.masses()
        value = quantile(masses, q) if masses else summary_value(self._summary, q)
        if value is None or not math.isfinite(value):
            return None
        if self._min is not None:
            value = max(value, self._min)
        if self._max is not None:
            value = min(value, self._max)
        return value
