"""Healthy markers from a Prometheus scrape, and /proc parsing."""

from __future__ import annotations

import math
import os

from loadtest.markers import (
    bucket_quantile,
    format_markers,
    maximum,
    parse_prometheus,
    resource_markers,
    server_markers,
    total,
)
from loadtest.procstat import Sample, cores_between, parse_stat, parse_status_kib

SCRAPE = """\
# HELP otelcontext_ingest_requests_total Export requests by outcome
# TYPE otelcontext_ingest_requests_total counter
otelcontext_ingest_requests_total{outcome="ok",signal="traces",transport="grpc"} 12000.0
otelcontext_ingest_requests_total{outcome="refused",signal="traces",transport="grpc"} 3.0
otelcontext_ingest_requests_total{outcome="refused",signal="logs",transport="http"} 2.0
# TYPE otelcontext_ingest_rejected_items counter
# TYPE otelcontext_internal_errors_total counter
# TYPE otelcontext_dlq_files gauge
otelcontext_dlq_files 0.0
# TYPE otelcontext_dlq_enqueued counter
otelcontext_dlq_enqueued_total 1.0
otelcontext_dlq_enqueued_created 1.7e+09
# TYPE otelcontext_retention_consecutive_failures gauge
otelcontext_retention_consecutive_failures{job="logs"} 0.0
otelcontext_retention_consecutive_failures{job="traces"} 2.0
otelcontext_db_pool_in_use 1.0
otelcontext_db_pool_max_open 2.0
otelcontext_db_pool_wait_count 5.0
otelcontext_db_pool_wait_duration_seconds 0.25
# TYPE otelcontext_event_loop_lag_seconds histogram
otelcontext_event_loop_lag_seconds_bucket{le="0.01"} 90.0
otelcontext_event_loop_lag_seconds_bucket{le="0.05"} 99.0
otelcontext_event_loop_lag_seconds_bucket{le="0.1"} 100.0
otelcontext_event_loop_lag_seconds_bucket{le="+Inf"} 100.0
otelcontext_event_loop_lag_seconds_count 100.0
otelcontext_ingest_request_duration_seconds_bucket{le="0.1",signal="traces"} 10.0
otelcontext_ingest_request_duration_seconds_bucket{le="+Inf",signal="traces"} 10.0
otelcontext_ingest_request_duration_seconds_bucket{le="0.1",signal="logs"} 0.0
otelcontext_ingest_request_duration_seconds_bucket{le="+Inf",signal="logs"} 90.0
odd_label_value{path="a \\"quoted\\" } value"} 4
not a sample line
"""


def test_samples_are_read_with_their_labels() -> None:
    s = parse_prometheus(SCRAPE)
    assert total(s, "otelcontext_ingest_requests_total") == 12005
    assert total(s, "otelcontext_ingest_requests_total", outcome="refused") == 5
    assert total(s, "otelcontext_ingest_requests_total", outcome="refused", signal="logs") == 2
    assert total(s, "odd_label_value") == 4
    assert maximum(s, "otelcontext_retention_consecutive_failures") == 2


def test_declared_families_without_samples_read_zero_and_unknown_ones_none() -> None:
    s = parse_prometheus(SCRAPE)
    assert total(s, "otelcontext_ingest_rejected_items_total") == 0
    assert total(s, "otelcontext_internal_errors_total") == 0  # TYPE names it with _total
    assert total(s, "otelcontext_graphrag_events_dropped_total") is None


def test_bucket_quantile_is_the_bucket_bound_that_holds_the_quantile() -> None:
    s = parse_prometheus(SCRAPE)
    assert bucket_quantile(s, "otelcontext_event_loop_lag_seconds", 0.99) == 0.05
    assert bucket_quantile(s, "otelcontext_event_loop_lag_seconds", 0.5) == 0.01
    assert bucket_quantile(s, "otelcontext_event_loop_lag_seconds", 1.0) == 0.1
    # summed over series: 10 of 100 within 0.1 s, the rest above every finite bound
    assert bucket_quantile(s, "otelcontext_ingest_request_duration_seconds", 0.99) == math.inf
    q = bucket_quantile(s, "otelcontext_ingest_request_duration_seconds", 0.99, signal="traces")
    assert q == 0.1
    assert bucket_quantile(s, "no_such_histogram", 0.99) is None


def test_server_markers_judge_the_run() -> None:
    markers = {m.name: m for m in server_markers(parse_prometheus(SCRAPE))}
    assert markers["refused exports"].value == "5"
    assert markers["refused exports"].healthy is False
    assert markers["items rejected (overload)"].healthy is True
    assert markers["graph events dropped"].value == "n/a"
    assert markers["graph events dropped"].healthy is None
    assert markers["DLQ batches enqueued"].healthy is False
    assert markers["retention failures (max in a row)"].value == "2"
    assert markers["DB pool"].value == "1/2 in use, 5 waits, 0.25 s waited"
    assert markers["DB pool"].healthy is True  # 50% in use
    busy = parse_prometheus(
        SCRAPE.replace("otelcontext_db_pool_in_use 1.0", "otelcontext_db_pool_in_use 2.0")
    )
    assert {m.name: m for m in server_markers(busy)}["DB pool"].healthy is False
    assert markers["event-loop lag p99"].value == "<= 50 ms"
    assert markers["event-loop lag p99"].healthy is True
    assert markers["export duration p99 (server)"].value == "> 10 s"


def test_resource_markers_add_the_decode_workers() -> None:
    cpu, rss = resource_markers(0.3, 0.1, 200.0, 60.0)
    assert cpu.value == "0.40 cores (main 0.30 + decode workers 0.10)" and cpu.healthy
    assert rss.value == "260 MiB (main 200 + decode workers 60)" and rss.healthy
    cpu, rss = resource_markers(0.45, 0.1, 480.0, 60.0)
    assert cpu.healthy is False and rss.healthy is False
    cpu, rss = resource_markers(None, None, None, None)
    assert cpu.healthy is None and "n/a" in rss.value


def test_marker_lines_show_value_verdict_and_expectation() -> None:
    lines = format_markers(resource_markers(0.3, 0.1, 200.0, 60.0))
    assert "[ok] healthy: <= 0.5 cores" in lines[1]
    assert lines[1].startswith("server CPU")


def test_proc_stat_is_read_after_the_command_name() -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    fields = ["S", "4242"] + ["0"] * 9 + [str(3 * ticks), str(ticks)] + ["0"] * 30
    text = "1234 (python -m (odd) name) " + " ".join(fields)
    assert parse_stat(text) == (4242, 4.0)


def test_proc_status_values_are_kib() -> None:
    text = "Name:\tpython\nVmPeak:\t  900000 kB\nVmHWM:\t  204800 kB\nVmRSS:\t 100 kB\n"
    assert parse_status_kib(text, "VmHWM") == 204800
    assert parse_status_kib(text, "VmSwap") is None


def test_cores_between_samples_counts_new_children_from_zero() -> None:
    before = Sample(10.0, {7: 1.0})
    after = Sample(13.0, {7: 2.0, 8: 0.5})
    assert cores_between(before, after, 10.0) == (0.3, 0.15)
    assert cores_between(before, after, 0.0) == (0.0, 0.0)


def test_log_problems_counts_warnings_and_errors_with_their_tracebacks() -> None:
    from loadtest.markers import log_problems

    lines = [
        "2026-11-26 21:00:00,001 INFO otelctx.app: otelctx ready: grpc=1 http=2\n",
        "2026-11-26 21:00:01,002 WARNING otelctx.x: slow\n",
        "2026-11-26 21:00:02,003 ERROR otelctx.nurseries.grpc: export failed\n",
        "Traceback (most recent call last):\n",
        '  File "x.py", line 1, in f\n',
        "ValueError: boom\n",
        "2026-11-26 21:00:03,004 INFO otelctx.app: stopping\n",
        "2026-11-26 21:00:03,005 CRITICAL otelctx.app: gone\n",
    ]
    count, excerpt = log_problems(lines)
    assert count == 3
    assert excerpt[0].endswith("WARNING otelctx.x: slow")
    assert excerpt[2:5] == ["Traceback (most recent call last):", '  File "x.py", line 1, in f',
                            "ValueError: boom"]  # fmt: skip
    assert len(excerpt) == 6
    assert log_problems(lines, max_lines=2)[1] == excerpt[:2]
    assert log_problems(lines[:1]) == (0, [])


def test_machine_busy_time_leaves_out_idle_and_iowait() -> None:
    from loadtest.procstat import parse_machine_busy

    ticks = os.sysconf("SC_CLK_TCK")
    text = f"cpu  {ticks} 0 {ticks} {50 * ticks} {7 * ticks} 0 {ticks} 0 0 0\ncpu0 1 2 3\n"
    assert parse_machine_busy(text) == 3.0
