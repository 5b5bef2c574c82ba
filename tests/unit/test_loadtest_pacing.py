"""Token-bucket pacing with an injected clock, and the warm-up start offsets."""

from __future__ import annotations

import itertools

import pytest

from loadtest.pacing import Pacer, start_offsets


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_tokens_accrue_at_the_rate_and_are_taken_once() -> None:
    clock = FakeClock()
    pacer = Pacer(50, clock)
    assert pacer.take() == 0
    clock.now += 1.0
    assert pacer.take() == 50
    assert pacer.take() == 0
    clock.now += 0.5
    assert pacer.take() == 25


def test_fractional_rates_add_up_exactly_over_time() -> None:
    clock = FakeClock(0.0)
    pacer = Pacer(3.3, clock, start=0.0)
    taken = 0
    for _ in range(1000):
        clock.now += 0.01
        taken += pacer.take()
    assert taken == 33  # floor(3.3 * 10 s): nothing lost to rounding between takes


def test_a_late_reader_catches_up_without_a_burst_cap() -> None:
    clock = FakeClock()
    pacer = Pacer(50, clock)
    clock.now += 10.0  # a slow export held the service up
    assert pacer.take() == 500


def test_a_burst_cap_forgets_what_exceeds_it() -> None:
    clock = FakeClock()
    pacer = Pacer(50, clock, burst=100)
    clock.now += 10.0
    assert pacer.take() == 100
    clock.now += 1.0
    assert pacer.take() == 50


def test_spending_beyond_the_tokens_is_paid_back_from_later_ones() -> None:
    clock = FakeClock()
    pacer = Pacer(10, clock)
    clock.now += 1.0
    assert pacer.take() == 10
    pacer.spend(3)  # a parent's children overshot
    assert pacer.available() == -3
    clock.now += 0.2
    assert pacer.take() == 0
    clock.now += 0.8
    assert pacer.take() == 7


def test_nothing_accrues_before_start_or_after_stop() -> None:
    clock = FakeClock(0.0)
    pacer = Pacer(100, clock, start=5.0)
    clock.now = 4.0
    assert pacer.take() == 0
    pacer.stop_at(6.0)
    clock.now = 60.0
    assert pacer.take() == 100


def test_the_limiter_gives_the_rate_in_one_second_of_small_steps() -> None:
    """The original simulator's limiter issued 45-55 tokens in 1 s at 50/s; this one is
    exact."""
    clock = FakeClock(0.0)
    pacer = Pacer(50, clock, start=0.0)
    got = 0
    for _ in range(1000):
        clock.now += 0.001
        got += pacer.take()
    assert got == 50


def test_pacer_rejects_bad_rates() -> None:
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            Pacer(bad, FakeClock())
    with pytest.raises(ValueError):
        Pacer(1, FakeClock(), burst=0.5)


def test_start_offsets_ramp_linearly_over_the_warmup() -> None:
    offsets = start_offsets(201, 5.0)
    assert offsets[0] == 0.0 and offsets[-1] == pytest.approx(5.0)
    steps = {round(b - a, 9) for a, b in itertools.pairwise(offsets)}
    assert steps == {0.025}
    assert start_offsets(1, 5.0) == [0.0]
    assert start_offsets(4, 0.0) == [0.0] * 4
    with pytest.raises(ValueError):
        start_offsets(0, 1.0)
