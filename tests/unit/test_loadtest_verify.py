"""--verify: reading the service map and counting what was lost."""

from __future__ import annotations

import orjson
import pytest

from loadtest.verify import (
    VerifyError,
    compare,
    format_verify,
    parse_service_map,
    service_map_target,
)

NAMES = {"loadsim-svc-000", "loadsim-svc-001", "loadsim-svc-002"}


def _map(*nodes: tuple[str, int]) -> bytes:
    return orjson.dumps({
        "nodes": [{"name": n, "span_count": c, "error_count": 0, "error_rate": 0.0,
                   "avg_latency_ms": 1.0} for n, c in nodes],
        "edges": [],
    })  # fmt: skip


def test_the_service_map_gives_span_counts_per_service() -> None:
    assert parse_service_map(_map(("a", 3), ("b", 0))) == {"a": 3, "b": 0}
    assert parse_service_map(b'{"nodes": [], "edges": []}') == {}


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"nodes": null}', b'{"edges": []}', b'{"nodes": [1]}',
     b'{"nodes": [{"name": "a"}]}', b'{"nodes": [{"name": "a", "span_count": "3"}]}',
     b'{"nodes": [{"name": "a", "span_count": true}]}'],
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
    lines = format_verify(result, 60.0)
    assert lines[-1] == "lost=4"
    assert "verify: loadsim-svc-002: acked 4, stored 0" in lines


def test_the_report_lists_at_most_ten_short_services() -> None:
    names = {f"s{i:02d}" for i in range(15)}
    result = compare(dict.fromkeys(names, 2), {}, names)
    lines = format_verify(result, 1.0)
    assert sum(line.startswith("verify: s") for line in lines) == 10
    assert "… and 5 more services short" in lines[-2]
    assert lines[-1] == "lost=30"


def test_the_query_covers_the_window_in_unix_nanoseconds() -> None:
    target = service_map_target("", 1_700_000_000_000_000_000, 1_700_000_060_000_000_001)
    assert target == ("/api/metrics/service-map?start=1700000000000000000"
                      "&end=1700000060000000001")  # fmt: skip
    assert service_map_target("/otel", 1, 2).startswith("/otel/api/metrics/service-map?")
