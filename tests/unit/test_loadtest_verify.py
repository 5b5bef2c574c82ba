"""--verify: reading the service map, windows of the run, and counting what was lost."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest

from loadtest.verify import (
    BUCKET_NS,
    VerifyError,
    Window,
    bucket_of,
    combine,
    compare,
    format_verify,
    parse_service_map,
    plan_windows,
    service_map_target,
    split,
)

NAMES = {"loadsim-svc-000", "loadsim-svc-001", "loadsim-svc-002"}


def _map(*nodes: tuple[str, int], **extra: object) -> bytes:
    return orjson.dumps({
        "nodes": [{"name": n, "span_count": c, "error_count": 0, "error_rate": 0.0,
                   "avg_latency_ms": 1.0} for n, c in nodes],
        "edges": [],
        **extra,
    })  # fmt: skip


def test_the_service_map_gives_span_counts_per_service() -> None:
    counts = parse_service_map(_map(("a", 3), ("b", 0)))
    assert counts.spans == {"a": 3, "b": 0}
    assert counts.sample_rate == 1.0  # no sample_rate: exact
    assert parse_service_map(b'{"nodes": [], "edges": []}').spans == {}
    assert parse_service_map(_map(("a", 30), sample_rate=0.25)).sample_rate == 0.25


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"nodes": null}', b'{"edges": []}', b'{"nodes": [1]}',
     b'{"nodes": [{"name": "a"}]}', b'{"nodes": [{"name": "a", "span_count": "3"}]}',
     b'{"nodes": [{"name": "a", "span_count": true}]}',
     b'{"nodes": [], "sample_rate": 0}', b'{"nodes": [], "sample_rate": "1"}',
     b'{"nodes": [], "sample_rate": 1.5}'],
)  # fmt: skip
def test_other_shapes_are_refused_clearly(body: bytes) -> None:
    with pytest.raises(VerifyError):
        parse_service_map(body)


def test_nothing_lost_when_every_service_stored_what_was_acked() -> None:
    acked = {"loadsim-svc-000": 10, "loadsim-svc-001": 5}
    stored = {"loadsim-svc-000": 10, "loadsim-svc-001": 5, "other-service": 99}
    result = compare(acked, stored, NAMES)
    assert result.complete and result.lost == 0 and result.extra == 0
    assert (result.acked, result.stored) == (15, 15)  # other services do not count


def test_extra_spans_in_one_service_never_offset_losses_in_another() -> None:
    acked = {"loadsim-svc-000": 10, "loadsim-svc-001": 5}
    stored = {"loadsim-svc-000": 7, "loadsim-svc-001": 9, "loadsim-svc-002": 1}
    result = compare(acked, stored, NAMES)
    assert result.lost == 3
    assert result.extra == 5
    assert result.short == (("loadsim-svc-000", 10, 7),)
    assert not result.complete


def test_a_service_missing_from_the_map_lost_everything() -> None:
    result = compare({"loadsim-svc-002": 4}, {}, NAMES)
    assert result.lost == 4
    lines = format_verify(result, 60.0, 1)
    assert lines[-1] == "lost=4"
    assert "verify: loadsim-svc-002: acked 4, stored 0" in lines


def test_windows_compare_separately_and_extras_never_offset_losses() -> None:
    first = compare({"loadsim-svc-000": 10}, {"loadsim-svc-000": 12}, NAMES)
    second = compare({"loadsim-svc-000": 10}, {"loadsim-svc-000": 8}, NAMES)
    third = compare({"loadsim-svc-000": 5, "loadsim-svc-001": 1}, {}, NAMES)
    total = combine([first, second, third])
    assert (total.lost, total.extra, total.acked, total.stored) == (8, 2, 26, 20)
    assert total.short == (("loadsim-svc-000", 15, 8), ("loadsim-svc-001", 1, 0))
    assert combine([]).complete


def test_the_report_lists_at_most_ten_short_services() -> None:
    names = {f"s{i:02d}" for i in range(15)}
    result = compare(dict.fromkeys(names, 2), {}, names)
    lines = format_verify(result, 1.0, 3)
    assert lines[0].endswith("(3 windows, waited 1.0 s)")
    assert sum(line.startswith("verify: s") for line in lines) == 10
    assert "… and 5 more services short" in lines[-2]
    assert lines[-1] == "lost=30"


def _buckets(spec: dict[int, dict[str, int]]) -> dict[int, Counter[str]]:
    return {b: Counter(per) for b, per in spec.items()}


def test_windows_hold_at_most_the_span_budget_of_consecutive_buckets() -> None:
    buckets = _buckets({
        10: {"a": 4, "b": 2}, 11: {"a": 4}, 12: {"b": 3}, 13: {"a": 1},
        20: {"a": 1},  # not adjacent: a window of its own
        21: {"a": 50},  # over the budget alone
        22: {},  # nothing acknowledged: left out
    })  # fmt: skip
    windows = plan_windows(buckets, max_spans=10)
    assert [(w.first, w.last) for w in windows] == [(10, 11), (12, 13), (20, 20), (21, 21)]
    assert windows[0].expected == {"a": 8, "b": 2}
    assert windows[1].expected == {"a": 1, "b": 3}
    assert windows[0].start_ns == 10 * BUCKET_NS and windows[0].end_ns == 12 * BUCKET_NS
    assert sum(sum(w.expected.values()) for w in windows) == 65  # every span in one window
    assert plan_windows({}) == []


def test_a_sampled_window_splits_in_halves_down_to_one_bucket() -> None:
    buckets = _buckets({b: {"a": 1} for b in range(5, 10)})
    (whole,) = plan_windows(buckets)
    halves = split(whole, buckets)
    assert halves is not None
    assert [(w.first, w.last) for w in halves] == [(5, 7), (8, 9)]
    assert [w.expected for w in halves] == [{"a": 3}, {"a": 2}]
    assert split(Window(5, 5, {"a": 1}), buckets) is None


def test_buckets_are_100_ms_of_start_times() -> None:
    assert bucket_of(1_700_000_000_099_999_999) == bucket_of(1_700_000_000_000_000_000)
    assert bucket_of(1_700_000_000_100_000_000) == bucket_of(1_700_000_000_000_000_000) + 1


def test_the_query_covers_the_window_in_unix_nanoseconds() -> None:
    target = service_map_target("", 1_700_000_000_000_000_000, 1_700_000_060_000_000_001)
    assert target == ("/api/metrics/service-map?start=1700000000000000000"
                      "&end=1700000060000000001")  # fmt: skip
    assert service_map_target("/otel", 1, 2).startswith("/otel/api/metrics/service-map?")
