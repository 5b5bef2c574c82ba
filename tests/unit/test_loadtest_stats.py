"""Percentiles, counters, and the progress and summary lines of the simulator."""

from __future__ import annotations

import re

import pytest

from loadtest.stats import Counters, RunInfo, Stats, format_progress, format_summary, percentile


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile(values, 0) == 1.0
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0  # unsorted input
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 99) is None
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_p99_of_a_thousand_samples_sees_the_tail() -> None:
    values = [0.01] * 985 + [0.5] * 15
    assert percentile(values, 99) == 0.5
    assert percentile(values, 50) == 0.01


def test_progress_line_has_the_documented_shape_and_window_figures() -> None:
    stats = Stats()
    stats.counters.sent = 1200
    stats.counters.refused = 2
    stats.counters.errors = 1
    stats.record_ack([("loadsim-svc-000", 600), ("loadsim-svc-001", 400)], 0.012)
    stats.record_ack([("loadsim-svc-000", 100)], 0.250)
    acked, lat = stats.window()
    line = format_progress(10.0, stats.counters, acked, 5.0, lat)
    assert line == "[T+10s] sent=1200 acked=1100 refused=2 errors=1 rate=220/s ack_p99=250ms"
    # the next window starts empty
    acked, lat = stats.window()
    assert (acked, lat) == (0, [])
    assert format_progress(15.0, stats.counters, acked, 5.0, lat).endswith("rate=0/s ack_p99=n/ams")


def test_acks_are_counted_per_service_name() -> None:
    stats = Stats()
    stats.record_ack([("a", 3), ("b", 2)], 0.1)
    stats.record_ack([("a", 1)], 0.1)
    assert stats.acked_by_service == {"a": 4, "b": 2}
    assert stats.counters.acked == 6
    assert stats.counters.exports_acked == 2


def test_error_messages_are_kept_for_at_most_twenty_kinds() -> None:
    stats = Stats()
    for i in range(30):
        stats.record_error(f"kind {i}")
    stats.record_error("kind 0")
    assert len(stats.first_errors) == 20
    assert stats.first_errors["kind 0"] == 2


def _summary(c: Counters, latencies: list[float], **info: object) -> str:
    stats = Stats(counters=c, latencies_s=latencies)
    params = {"services": 200, "rate": 50.0, "wall_s": 65.2, "service_seconds": 200 * 60.0,
              "interrupted": False, "warmup_s": 5.0, **info}  # fmt: skip
    return "\n".join(format_summary(RunInfo(**params), stats))  # type: ignore[arg-type]


def test_summary_reports_every_figure_of_the_run() -> None:
    c = Counters(sent=600_000, acked=600_000, refused=3, retried=3, errors=0)
    text = _summary(c, [0.010] * 989 + [0.200] * 11)
    assert "spans sent        600000" in text
    assert "spans acked       600000" in text
    assert "refused attempts  3" in text
    assert "retried attempts  3" in text
    assert "permanent failures 0 exports (0 spans)" in text
    assert re.search(r"ack p50 / p99\s+10 ms / 200 ms", text)
    assert "achieved rate     10,000 spans/s" in text  # 600k spans over 60 s of each service
    assert "interrupted" not in text


def test_achieved_rate_counts_the_time_acknowledgements_trailed_behind() -> None:
    c = Counters(sent=60_000, acked=60_000)
    # 20 services sent for 2 s each, but the last ack came 12 s after the start
    text = _summary(c, [0.1], services=20, wall_s=12.0, service_seconds=40.0, warmup_s=0.0)
    assert "achieved rate     5,000 spans/s" in text
    # a run that kept up: 60 s of sending after a 5 s ramp
    text = _summary(Counters(sent=600_000, acked=600_000), [0.1], wall_s=65.3, warmup_s=5.0)
    assert "achieved rate     10,000 spans/s" in text


def test_summary_of_an_interrupted_run_with_failures() -> None:
    c = Counters(sent=100, acked=40, failed=50, failed_exports=1, unfinished=10)
    text = _summary(c, [], interrupted=True, service_seconds=200 * 2.0, wall_s=2.5, warmup_s=0.0)
    assert "(interrupted)" in text
    assert "permanent failures 1 exports (50 spans)" in text
    assert "unfinished        10 spans" in text
    assert "ack p50 / p99     n/a ms / n/a ms" in text
    assert "achieved rate     20 spans/s" in text
