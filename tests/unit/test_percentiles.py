"""Percentile estimates of merged histogram and summary points (storage.percentiles)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otelctx.model import MetricType
from otelctx.storage.percentiles import Distribution, Mass, quantile, summary_value

H, EXP, SUM = MetricType.HISTOGRAM, MetricType.EXPONENTIAL_HISTOGRAM, MetricType.SUMMARY


def explicit(values: list[float], bounds: list[float]) -> dict[str, Any]:
    counts = [0] * (len(bounds) + 1)
    for v in values:
        counts[sum(v > b for b in bounds)] += 1
    return {"bucket_counts": counts, "explicit_bounds": bounds}


def test_uniform_values_give_the_exact_quantiles() -> None:
    d = Distribution()
    bounds = [100.0 * k for k in range(1, 10)]
    for start in range(1, 1001, 100):  # ten points of 100 values
        chunk = [float(v) for v in range(start, start + 100)]
        d.add(H, explicit(chunk, bounds), min(chunk), max(chunk))
    assert d.quantile(0.5) == pytest.approx(500)
    assert d.quantile(0.95) == pytest.approx(950)
    assert d.quantile(0.99) == pytest.approx(990)
    assert d.quantile(0.0) == 1.0
    assert d.quantile(1.0) == 1000.0


def test_interpolation_inside_a_bucket_and_the_open_ends() -> None:
    d = Distribution()
    d.add(H, {"bucket_counts": [0, 10, 0], "explicit_bounds": [10.0, 20.0]})
    assert d.quantile(0.5) == pytest.approx(15.0)
    # without min/max: the first bucket starts at 0 (positive bound), the last is a point
    low = Distribution()
    low.add(H, {"bucket_counts": [4, 0, 0], "explicit_bounds": [8.0, 20.0]})
    assert low.quantile(0.5) == pytest.approx(4.0)
    high = Distribution()
    high.add(H, {"bucket_counts": [0, 0, 4], "explicit_bounds": [8.0, 20.0]})
    assert high.quantile(0.5) == 20.0
    # a max below the bucket's top narrows the bucket
    narrow = Distribution()
    narrow.add(H, {"bucket_counts": [0, 10, 0], "explicit_bounds": [10.0, 20.0]}, 10.0, 12.0)
    assert narrow.quantile(0.5) == pytest.approx(11.0)


def test_points_with_different_bounds_merge() -> None:
    d = Distribution()
    d.add(H, {"bucket_counts": [0, 10, 0], "explicit_bounds": [0.0, 10.0]}, 0.0, 10.0)
    d.add(H, {"bucket_counts": [0, 10, 0], "explicit_bounds": [10.0, 20.0]}, 10.0, 20.0)
    assert d.quantile(0.5) == pytest.approx(10.0)
    assert d.quantile(0.75) == pytest.approx(15.0)


def exponential(scale: int, offset: int, counts: list[int], zero: int = 0) -> dict[str, Any]:
    return {"scale": scale, "zero_count": zero, "zero_threshold": 0.0,
            "positive": {"offset": offset, "bucket_counts": counts},
            "negative": {"offset": 0, "bucket_counts": []}}  # fmt: skip


def test_exponential_buckets_and_scales() -> None:
    d = Distribution()
    d.add(EXP, exponential(0, 0, [10] * 10))  # (1,2], (2,4] ... (512,1024]
    assert d.quantile(0.5) == pytest.approx(32.0)
    # scale 1 halves the buckets: merged with scale 0 it is brought down to scale 0
    d2 = Distribution()
    d2.add(EXP, exponential(1, 0, [5, 5]))  # (1, 1.41], (1.41, 2]  -> scale 0: (1, 2]
    d2.add(EXP, exponential(0, 1, [10]))  # (2, 4]
    assert d2.quantile(0.5) == pytest.approx(2.0)
    zero = Distribution()
    zero.add(EXP, exponential(0, 0, [1], zero=9))
    assert zero.quantile(0.5) == 0.0


def test_summaries_take_the_largest_value_of_the_nearest_quantile() -> None:
    d = Distribution()
    for i in range(3):
        d.add(SUM, {"quantiles": [{"quantile": 0.5, "value": 10.0 + i},
                                  {"quantile": 0.99, "value": 90.0 + i}]})  # fmt: skip
    assert d.quantile(0.5) == 12.0
    assert d.quantile(0.95) == 92.0
    assert d.quantile(0.6) == 12.0
    assert summary_value({}, 0.5) is None
    assert summary_value({0.4: 1.0, 0.6: 2.0}, 0.5) == 2.0  # a tie goes to the higher


def test_nothing_observed_is_none() -> None:
    assert Distribution().quantile(0.5) is None
    d = Distribution()
    d.add(H, {"bucket_counts": [0, 0], "explicit_bounds": [1.0]})
    assert d.quantile(0.5) is None
    assert quantile([], 0.5) is None


finite = st.floats(-1e6, 1e6, allow_nan=False)


def cdf(masses: list[Mass], x: float) -> float:
    total = 0.0
    for m in masses:
        if m.hi <= m.lo:
            total += m.count if x >= m.lo else 0.0
        else:
            total += m.count * min(1.0, max(0.0, (x - m.lo) / (m.hi - m.lo)))
    return total


@settings(max_examples=300)
@given(
    st.lists(st.tuples(finite, st.floats(0, 1e3), st.integers(0, 50)), min_size=1, max_size=12),
    st.floats(0, 1),
)
def test_quantile_inverts_the_mixture_cdf(spec: list[tuple[float, float, int]], q: float) -> None:
    masses = [Mass(lo, lo + width, float(c)) for lo, width, c in spec]
    total = sum(m.count for m in masses)
    x = quantile(masses, q)
    if total == 0:
        assert x is None
        return
    assert x is not None
    lo = min(m.lo for m in masses if m.count)
    hi = max(m.hi for m in masses if m.count)
    assert lo <= x <= hi
    tol = 1e-6 * max(1.0, total)
    # reached at x (a few ulps up: x is rounded, and a very narrow mass is steep) ...
    assert cdf(masses, x + 8 * math.ulp(x)) >= q * total - tol
    below = x - 1e-6 * max(1.0, abs(x))
    assert cdf(masses, below) <= q * total + tol or x == lo  # ... and not well before it


bounds_st = st.lists(finite, min_size=0, max_size=8, unique=True).map(sorted)


@settings(max_examples=300)
@given(st.lists(st.tuples(bounds_st, st.lists(st.integers(0, 100), min_size=1, max_size=9),
                          finite, finite), min_size=1, max_size=6))  # fmt: skip
def test_histogram_estimates_stay_within_min_and_max_and_grow_with_q(
    points: list[tuple[list[float], list[int], float, float]],
) -> None:
    d = Distribution()
    lows, highs = [], []
    for bounds, counts, a, b in points:
        counts = (counts * 10)[: len(bounds) + 1]
        lo, hi = min(a, b), max(a, b)
        d.add(H, {"bucket_counts": counts, "explicit_bounds": bounds}, lo, hi)
        lows.append(lo)
        highs.append(hi)
    values = [d.quantile(q) for q in (0.0, 0.5, 0.95, 0.99, 1.0)]
    present = [v for v in values if v is not None]
    if present:
        assert len(present) == len(values)
        assert all(min(lows) <= v <= max(highs) for v in present)
        assert present == sorted(present)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20,
)
data_st = st.fixed_dictionaries(
    {},
    optional={
        "bucket_counts": json_values, "explicit_bounds": json_values, "scale": json_values,
        "zero_count": json_values, "positive": json_values, "negative": json_values,
        "quantiles": json_values,
    },
)  # fmt: skip


@settings(max_examples=500)
@given(st.lists(st.tuples(st.sampled_from([H, EXP, SUM]), data_st | json_values,
                          st.none() | st.floats(), st.none() | st.floats()),
                max_size=5))  # fmt: skip
def test_malformed_stored_data_never_raises(points: list[tuple[MetricType, Any, Any, Any]]) -> None:
    d = Distribution()
    for kind, data, lo, hi in points:
        d.add(kind, data, lo, hi)
    for q in (0.5, 0.99):
        v = d.quantile(q)
        assert v is None or math.isfinite(v)


@given(st.integers(-10, 20), st.integers(-2000, 2000), st.lists(st.integers(0, 5), max_size=6))
def test_extreme_exponential_indices_stay_finite_or_none(
    scale: int, offset: int, counts: list[int]
) -> None:
    d = Distribution()
    d.add(EXP, exponential(scale, offset, counts))
    v = d.quantile(0.99)
    assert v is None or math.isfinite(v)
