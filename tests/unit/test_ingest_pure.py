"""Admission bounds, the metric series limit and trace summary merging (pure code)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from otelctx.ingest.admission import Admission
from otelctx.ingest.cardinality import OVERFLOW_NAME, SeriesLimiter
from otelctx.model import MetricPoint, MetricType, Scope, StatusCode
from otelctx.storage.summaries import SummaryDelta, merge


def test_admission_refuses_past_either_bound_and_frees_on_release() -> None:
    a = Admission(max_items=100, max_bytes=1000)
    assert a.try_admit(60, 100)
    assert not a.try_admit(41, 100), "items bound"
    assert not a.try_admit(10, 901), "bytes bound"
    assert a.try_admit(40, 900)
    assert not a.has_room()
    a.release(60, 100)
    assert a.has_room(50)
    assert a.fullness == 0.9


def test_admission_takes_an_oversized_request_when_idle() -> None:
    a = Admission(max_items=10, max_bytes=10)
    assert a.try_admit(500, 5000)
    assert not a.try_admit(1, 1)
    a.release(500, 5000)
    assert a.has_room() and a.items == 0 and a.bytes == 0


def _point(name: str, attrs: dict[str, object], tenant: str = "t") -> MetricPoint:
    return MetricPoint(
        tenant_id=tenant, service_name="s", name=name, description="", unit="",
        metric_type=MetricType.GAUGE, time_unix_nano=1, start_time_unix_nano=0,
        attributes=attrs, resource={}, scope=Scope(), value=1.0, count=None, sum=None,
        min=None, max=None, data={},
    )  # fmt: skip


def test_series_limit_is_per_tenant_and_keeps_known_series_flowing() -> None:
    lim = SeriesLimiter(max_series=2)
    out, over = lim.route([_point("m", {"id": 1}), _point("m", {"id": 2}), _point("m", {"id": 3})])
    assert over == 1
    assert [p.name for p in out] == ["m", "m", OVERFLOW_NAME]
    assert out[2].attributes == {}
    out, over = lim.route([_point("m", {"id": 1}), _point("m", {"id": 2})])
    assert over == 0, "series seen before keep flowing"
    out, over = lim.route([_point("m", {"id": 3}, tenant="other")])
    assert over == 0, "another tenant has its own budget"
    assert SeriesLimiter(0).route([_point("m", {"i": i}) for i in range(50)])[1] == 0


_deltas = st.builds(
    SummaryDelta,
    tenant_id=st.just("t"),
    trace_id=st.just("x"),
    root_service=st.sampled_from(["a", "b", "c"]),
    root_operation=st.sampled_from(["op1", "op2"]),
    root_is_entry=st.booleans(),
    root_start=st.integers(0, 100),
    start_time=st.integers(0, 100),
    end_time=st.integers(100, 200),
    span_count=st.integers(1, 5),
    error_count=st.integers(0, 1),
    status_code=st.sampled_from(list(StatusCode)),
)


@given(_deltas, _deltas, _deltas)
def test_summary_merge_is_order_independent(
    a: SummaryDelta, b: SummaryDelta, c: SummaryDelta
) -> None:
    def key(d: SummaryDelta) -> tuple[object, ...]:
        # ties between equal root keys may pick either candidate; the key itself is fixed
        return (d.root_is_entry, d.root_start, d.start_time, d.end_time, d.span_count,
                d.error_count, d.status_code)  # fmt: skip

    assert key(merge(merge(a, b), c)) == key(merge(a, merge(b, c))) == key(merge(merge(c, a), b))
    merged = merge(a, b)
    assert merged.status_code == max(a.status_code, b.status_code)
    if a.root_is_entry != b.root_is_entry:
        assert merged.root_is_entry


_span_specs = st.lists(
    st.tuples(st.integers(0, 50), st.integers(0, 50), st.booleans(),
              st.sampled_from(list(StatusCode)), st.sampled_from(["a", "b"])),
    min_size=1, max_size=20,
)  # fmt: skip


@given(_span_specs)
def test_summarize_equals_folding_merge(
    specs: list[tuple[int, int, bool, StatusCode, str]],
) -> None:
    from functools import reduce

    from otelctx.model import SpanKind, SpanRecord
    from otelctx.storage.summaries import delta_of, summarize

    spans = [
        SpanRecord("t", f"trace-{trace}", f"{i:016x}", "" if entry else "p" * 16, f"svc{i}",
                   f"op{i}", SpanKind.SERVER, start, start + dur, status, "", "", {}, {},
                   Scope(), (), ())
        for i, (start, dur, entry, status, trace) in enumerate(specs)
    ]  # fmt: skip
    for got in summarize(spans):
        mine = [delta_of(s) for s in spans if s.trace_id == got.trace_id]
        assert got == reduce(merge, mine)


def test_write_concurrency_defaults_and_caps() -> None:
    from otelctx.config import Settings
    from otelctx.storage.base import write_concurrency

    assert write_concurrency(Settings()) == 1
    assert write_concurrency(Settings(db_driver="postgres")) == 2
    assert write_concurrency(Settings(db_driver="mysql")) == 4
    assert write_concurrency(Settings(db_driver="mysql", db_writers=8)) == 8
    assert write_concurrency(Settings(db_driver="mysql", db_max_open_conns=4)) == 2
    assert write_concurrency(Settings(db_driver="postgres", db_max_open_conns=1)) == 1
