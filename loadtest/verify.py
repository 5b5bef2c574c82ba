"""``--verify``: compare what was acknowledged with what the server stored.

The stored count per service comes from ``GET /api/metrics/service-map?start=&end=``
(unix ns, ``[start, end)`` on span start times) → ``{"nodes":[{"name", "span_count"…}]…}``.
A service map over a large window may be an estimate: a server that aggregates a sample
says so with ``"sample_rate"`` below 1 (no such field: exact). So the run is checked in
time windows of at most ``WINDOW_SPANS`` acknowledged spans, built from 100 ms buckets of
span start times (``plan_windows``), and a window answered with a sample is split
(``split``) until the answers are exact.

``lost`` sums, over windows and services, the acknowledged spans that are not stored
(``max(0, acked - stored)``); spans stored beyond what was acknowledged (an export
that timed out on the client but was committed, say) are reported as ``extra`` and
never offset a loss elsewhere.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

import orjson

SERVICE_MAP_PATH = "/api/metrics/service-map"
BUCKET_NS = 100_000_000  # 100 ms of span start times
WINDOW_SPANS = 10_000  # most acknowledged spans one service-map query is asked to count

Bucketed = Mapping[int, Mapping[str, int]]  # bucket → service name → spans


class VerifyError(Exception):
    """The API's answer cannot be used (wrong shape, an error status)."""


def bucket_of(start_ns: int) -> int:
    return start_ns // BUCKET_NS


def service_map_target(base_path: str, start_ns: int, end_ns: int) -> str:
    return f"{base_path}{SERVICE_MAP_PATH}?" + urlencode({"start": start_ns, "end": end_ns})


@dataclass(frozen=True, slots=True)
class ServiceMapCounts:
    spans: dict[str, int]
    sample_rate: float  # 1.0: exact


def parse_service_map(body: bytes) -> ServiceMapCounts:
    """Span counts per service (and the sample rate) from a service-map answer;
    ``VerifyError`` when it is not the documented shape."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise VerifyError(f"service map is not JSON: {exc}") from None
    nodes = doc.get("nodes") if isinstance(doc, dict) else None
    if not isinstance(nodes, list):
        raise VerifyError("service map has no nodes[] list")
    counts: dict[str, int] = {}
    for node in nodes:
        if not isinstance(node, dict):
            raise VerifyError(f"service map node is not an object: {node!r}")
        name, count = node.get("name"), node.get("span_count")
        if not isinstance(name, str) or not isinstance(count, int) or isinstance(count, bool):
            raise VerifyError(f"service map node without name/span_count: {node!r}")
        counts[name] = counts.get(name, 0) + count
    rate = doc.get("sample_rate", 1.0)
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 < rate <= 1:
        raise VerifyError(f"service map sample_rate is not in (0, 1]: {rate!r}")
    return ServiceMapCounts(counts, float(rate))


@dataclass(frozen=True, slots=True)
class Window:
    """Buckets ``first..last`` (inclusive) and the spans acknowledged in them."""

    first: int
    last: int
    expected: dict[str, int]

    @property
    def start_ns(self) -> int:
        return self.first * BUCKET_NS

    @property
    def end_ns(self) -> int:
        return (self.last + 1) * BUCKET_NS


def _window(buckets: Bucketed, first: int, last: int) -> Window:
    expected: Counter[str] = Counter()
    for bucket in range(first, last + 1):
        expected.update(buckets.get(bucket, {}))
    return Window(first, last, dict(expected))


def plan_windows(buckets: Bucketed, max_spans: int = WINDOW_SPANS) -> list[Window]:
    """Consecutive buckets merged while a window holds at most ``max_spans`` (a single
    bucket above it is a window of its own); buckets without spans are left out."""
    bounds: list[tuple[int, int]] = []  # (first, last) bucket of each window
    total = 0
    for bucket in sorted(b for b, per in buckets.items() if sum(per.values())):
        n = sum(buckets[bucket].values())
        if bounds and total + n <= max_spans and bucket == bounds[-1][1] + 1:
            bounds[-1] = (bounds[-1][0], bucket)
            total += n
        else:
            bounds.append((bucket, bucket))
            total = n
    return [_window(buckets, first, last) for first, last in bounds]


def split(window: Window, buckets: Bucketed) -> list[Window] | None:
    """Two halves of ``window``, or None when it is a single bucket."""
    if window.first == window.last:
        return None
    middle = (window.first + window.last) // 2
    return [_window(buckets, window.first, middle), _window(buckets, middle + 1, window.last)]


@dataclass(frozen=True, slots=True)
class Comparison:
    lost: int
    extra: int
    acked: int
    stored: int
    short: tuple[tuple[str, int, int], ...]  # (service, acked, stored) where stored < acked

    @property
    def complete(self) -> bool:
        return self.lost == 0


def compare(
    acked: Mapping[str, int], stored: Mapping[str, int], services: Collection[str]
) -> Comparison:
    """Per service of ``services`` (the run's names): lost and extra spans."""
    lost = extra = total_acked = total_stored = 0
    short: list[tuple[str, int, int]] = []
    for name in sorted(services):
        a, s = acked.get(name, 0), stored.get(name, 0)
        total_acked += a
        total_stored += s
        if s < a:
            lost += a - s
            short.append((name, a, s))
        else:
            extra += s - a
    return Comparison(lost, extra, total_acked, total_stored, tuple(short))


def combine(parts: Iterable[Comparison]) -> Comparison:
    """The comparisons of several windows as one; a service short in several windows is
    listed once with its sums."""
    lost = extra = acked = stored = 0
    short: dict[str, tuple[int, int]] = {}
    for c in parts:
        lost, extra = lost + c.lost, extra + c.extra
        acked, stored = acked + c.acked, stored + c.stored
        for name, a, s in c.short:
            pa, ps = short.get(name, (0, 0))
            short[name] = (pa + a, ps + s)
    listed = tuple((name, a, s) for name, (a, s) in sorted(short.items()))
    return Comparison(lost, extra, acked, stored, listed)


def format_verify(result: Comparison, waited_s: float, windows: int) -> list[str]:
    lines = [
        f"verify: acked={result.acked} stored={result.stored} extra={result.extra}"
        f" ({windows} windows, waited {waited_s:.1f} s)"
    ]
    for name, a, s in result.short[:10]:
        lines.append(f"verify: {name}: acked {a}, stored {s}")
    if len(result.short) > 10:
        lines.append(f"verify: … and {len(result.short) - 10} more services short")
    lines.append(f"lost={result.lost}")
    return lines
