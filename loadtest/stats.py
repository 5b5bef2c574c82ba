"""Counters of a run, percentiles, and the progress and summary lines.

Meaning of the counters (spans unless said otherwise):

- ``sent``: spans handed to a first export attempt;
- ``acked``: spans in exports the server acknowledged (committed);
- ``refused``: export *attempts* answered with a retryable refusal (gRPC UNAVAILABLE,
  HTTP 429/503…);
- ``errors``: export attempts that failed otherwise (connection, timeout, non-retryable
  status);
- ``retried``: attempts after the first;
- ``failed_exports`` / ``failed``: exports (and their spans) given up: a non-retryable
  answer, or retryable ones past ``--max-retry-time``;
- ``unfinished``: spans whose export was cut off by a second signal.

Ack latency is the round trip of the successful attempt of each acknowledged export.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; None when empty."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(slots=True)
class Counters:
    sent: int = 0
    acked: int = 0
    refused: int = 0
    errors: int = 0
    retried: int = 0
    failed: int = 0
    failed_exports: int = 0
    unfinished: int = 0
    rejected_items: int = 0  # reported by the server in partial_success
    exports_acked: int = 0
    logs_sent: int = 0
    logs_acked: int = 0
    points_sent: int = 0
    points_acked: int = 0


@dataclass(slots=True)
class Stats:
    """Everything the program counts; single-threaded (one Trio run) so no locking."""

    counters: Counters = field(default_factory=Counters)
    acked_by_service: Counter[str] = field(default_factory=Counter)
    acked_by_bucket: dict[int, Counter[str]] = field(default_factory=dict)  # for --verify
    latencies_s: list[float] = field(default_factory=list)
    first_errors: dict[str, int] = field(default_factory=dict)  # message → count
    _window_from: int = 0  # index into latencies_s where the current window starts
    _window_acked: int = 0

    def record_error(self, message: str) -> None:
        """Keep a count per distinct message (at most 20 kinds) for the summary."""
        if message in self.first_errors or len(self.first_errors) < 20:
            self.first_errors[message] = self.first_errors.get(message, 0) + 1

    def record_ack(
        self,
        spans_by_service: Iterable[tuple[str, int]],
        latency_s: float,
        by_bucket: Iterable[tuple[tuple[int, str], int]] = (),
    ) -> None:
        total = 0
        for service, n in spans_by_service:
            self.acked_by_service[service] += n
            total += n
        for (bucket, service), n in by_bucket:
            per = self.acked_by_bucket.get(bucket)
            if per is None:
                per = self.acked_by_bucket[bucket] = Counter()
            per[service] += n
        self.counters.acked += total
        self.counters.exports_acked += 1
        self.latencies_s.append(latency_s)

    def window(self) -> tuple[int, list[float]]:
        """Spans acked and ack latencies since the previous call (for progress lines)."""
        acked = self.counters.acked - self._window_acked
        lat = self.latencies_s[self._window_from :]
        self._window_acked = self.counters.acked
        self._window_from = len(self.latencies_s)
        return acked, lat


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.0f}"


def format_progress(elapsed_s: float, c: Counters, window_acked: int, window_s: float,
                    window_latencies: Sequence[float]) -> str:  # fmt: skip
    """``[T+10s] sent=… acked=… refused=… errors=… rate=…/s ack_p99=…ms``; rate is
    acknowledged spans/s and ack_p99 the p99 ack latency, both over the last window."""
    rate = window_acked / window_s if window_s > 0 else 0.0
    p99 = _ms(percentile(window_latencies, 99))
    return (
        f"[T+{elapsed_s:.0f}s] sent={c.sent} acked={c.acked} refused={c.refused} "
        f"errors={c.errors} rate={rate:.0f}/s ack_p99={p99}ms"
    )


@dataclass(frozen=True, slots=True)
class RunInfo:
    services: int
    rate: float
    wall_s: float  # first start to last export answered
    service_seconds: float  # sum over services of the time each one generated spans
    interrupted: bool
    warmup_s: float = 0.0
    batch_interval_s: float = 1.0

    @property
    def sending_s(self) -> float:
        """Seconds the acknowledged spans took: the services' mean sending time; but when
        the acknowledgements trailed the sending by more than a batch interval (at least
        1 s) — a server that could not keep up — the wall time after the warm-up, so the
        achieved rate says what the server really took."""
        mean_active = self.service_seconds / self.services if self.services else 0.0
        trailing = self.wall_s - self.warmup_s
        return trailing if trailing > mean_active + max(1.0, self.batch_interval_s) else mean_active


def format_summary(info: RunInfo, stats: Stats) -> list[str]:
    """The summary block printed at the end of every run (also after a signal)."""
    c = stats.counters
    lat = stats.latencies_s
    achieved = c.acked / info.sending_s if info.sending_s > 0 else 0.0
    lines = [
        "── summary " + "─" * 49,
        f"services          {info.services} x {info.rate:g} spans/s offered"
        f" ({info.services * info.rate:,.0f}/s)",
        f"wall time         {info.wall_s:.1f} s" + ("  (interrupted)" if info.interrupted else ""),
        f"spans sent        {c.sent}",
        f"spans acked       {c.acked}",
        f"refused attempts  {c.refused}",
        f"retried attempts  {c.retried}",
        f"error attempts    {c.errors}",
        f"permanent failures {c.failed_exports} exports ({c.failed} spans)",
    ]
    if c.unfinished:
        lines.append(f"unfinished        {c.unfinished} spans (cut off by a second signal)")
    if c.rejected_items:
        lines.append(f"rejected by server {c.rejected_items} items (partial_success)")
    if c.logs_sent:
        lines.append(f"logs sent/acked   {c.logs_sent} / {c.logs_acked}")
    if c.points_sent:
        lines.append(f"points sent/acked {c.points_sent} / {c.points_acked}")
    lines += [
        f"ack p50 / p99     {_ms(percentile(lat, 50))} ms / {_ms(percentile(lat, 99))} ms"
        f" (max {_ms(max(lat) if lat else None)} ms, {len(lat)} exports)",
        f"achieved rate     {achieved:,.0f} spans/s",
    ]
    for message, count in stats.first_errors.items():
        lines.append(f"  error x{count}: {message}")
    lines.append("─" * 60)
    return lines
