"""The simulated services' span stream: names, operations, errors, trace shapes."""

from __future__ import annotations

from collections import Counter

import pytest

from loadtest.shape import (
    MAX_DURATION_NS,
    MIN_DURATION_NS,
    OPERATIONS,
    ErrorSelector,
    Kind,
    PlannedSpan,
    TraceShaper,
    service_name,
)

RUN = b"\x01\x02\x03\x04\x05\x06"
NOW = 1_700_000_000_000_000_000


def _stream(shaper: TraceShaper, traces: int) -> list[list[PlannedSpan]]:
    return [shaper.next_trace(NOW + i * 1_000_000) for i in range(traces)]


def test_service_names_are_zero_padded_to_three_digits() -> None:
    assert service_name(0) == "loadsim-svc-000"
    assert service_name(7) == "loadsim-svc-007"
    assert service_name(199) == "loadsim-svc-199"
    assert service_name(1234) == "loadsim-svc-1234"
    assert len({service_name(i) for i in range(10_000)}) == 10_000
    with pytest.raises(ValueError):
        service_name(-1)


def test_operations_rotate_strictly_over_every_span() -> None:
    spans = [s for t in _stream(TraceShaper(3, 10, RUN, seed=1), 500) for s in t]
    assert [s.operation for s in spans] == [i % len(OPERATIONS) for i in range(len(spans))]
    assert len(OPERATIONS) == 5


@pytest.mark.parametrize("n", [0, 1, 19, 20, 21, 39, 40, 1000, 9999, 10_000])
def test_error_selector_gives_exactly_five_percent_of_any_prefix(n: int) -> None:
    sel = ErrorSelector()
    assert sum(sel.next() for _ in range(n)) == n // 20


def test_error_selector_other_rates_are_exact_too() -> None:
    sel = ErrorSelector(3, 7)
    flags = [sel.next() for _ in range(700)]
    assert all(sum(flags[:n]) == n * 3 // 7 for n in range(701))
    with pytest.raises(ValueError):
        ErrorSelector(2, 1)


def test_errors_are_exactly_five_percent_per_emitter_and_not_only_on_parents() -> None:
    shaper = TraceShaper(0, 2, RUN, seed=9)
    spans = [s for t in _stream(shaper, 3000) for s in t]
    errors = [s for s in spans if s.error]
    assert len(errors) == len(spans) // 20
    assert [s.seq for s in errors] == [i for i in range(len(spans)) if i % 20 == 19]
    on_roots = [s for s in errors if not s.parent_span_id]
    on_children = [s for s in errors if s.parent_span_id]
    assert on_roots and on_children  # the original put every error on a parent


def test_every_tenth_trace_is_a_parent_with_one_to_three_children() -> None:
    traces = _stream(TraceShaper(4, 10, RUN, seed=2), 1000)
    sizes = [len(t) for t in traces]
    for i, size in enumerate(sizes):
        assert (size > 1) == (i % 10 == 0), i
        assert 1 <= size <= 4
    assert set(sizes[::10]) == {2, 3, 4}  # 1, 2 and 3 children all occur


def test_first_child_runs_in_the_next_service_the_others_locally() -> None:
    for index, services in ((4, 10), (9, 10), (0, 1)):
        shaper = TraceShaper(index, services, RUN, seed=3)
        for trace in _stream(shaper, 200):
            root, *children = trace
            assert root.service == index and root.kind is Kind.SERVER
            assert not root.parent_span_id
            for k, child in enumerate(children):
                assert child.parent_span_id == root.span_id
                assert child.trace_id == root.trace_id
                expected = (index + 1) % services if k == 0 else index
                assert child.service == expected
                assert child.kind is (Kind.SERVER if k == 0 else Kind.INTERNAL)


def test_durations_are_5_to_500_ms_and_children_fit_in_their_parent() -> None:
    for trace in _stream(TraceShaper(1, 5, RUN, seed=4), 2000):
        root, *children = trace
        for s in trace:
            assert MIN_DURATION_NS <= s.end_ns - s.start_ns <= MAX_DURATION_NS
        for child in children:
            assert root.start_ns <= child.start_ns < child.end_ns <= root.end_ns


def test_ids_are_unique_within_a_run_and_differ_between_runs() -> None:
    a = [s for t in _stream(TraceShaper(1, 5, RUN, seed=4), 500) for s in t]
    b = [s for t in _stream(TraceShaper(2, 5, RUN, seed=4), 500) for s in t]
    keys = {(s.trace_id, s.span_id) for s in a + b}
    assert len(keys) == len(a) + len(b)
    assert all(len(s.trace_id) == 16 and len(s.span_id) == 8 for s in a)
    assert all(s.span_id != bytes(8) for s in a)
    other_run = [s for t in _stream(TraceShaper(1, 5, b"zzzzzz", seed=4), 500) for s in t]
    assert not {s.trace_id for s in other_run} & {s.trace_id for s in a}


def test_the_seed_decides_the_shapes() -> None:
    def shapes(seed: int) -> list[tuple[int, int]]:
        return [(len(t), t[0].end_ns - t[0].start_ns)
                for t in _stream(TraceShaper(1, 5, RUN, seed), 100)]  # fmt: skip

    assert shapes(5) == shapes(5)
    assert shapes(5) != shapes(6)


def test_batch_is_whole_traces_covering_the_spans_due() -> None:
    shaper = TraceShaper(0, 3, RUN, seed=1)
    total = 0
    for due in (50, 1, 0, 7, 50, 50):
        batch = shaper.batch(due, NOW, 1_000_000_000)
        assert due <= len(batch) <= due + 3
        per_trace = Counter(s.trace_id for s in batch)
        # a trace is never split over two batches
        assert all(n == sum(1 for s in batch if s.trace_id == t) for t, n in per_trace.items())
        assert all(s.end_ns <= NOW for s in batch)
        total += len(batch)
    assert shaper.spans_emitted == total


def test_shaper_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        TraceShaper(5, 5, RUN, 1)
    with pytest.raises(ValueError):
        TraceShaper(0, 5, b"short", 1)
