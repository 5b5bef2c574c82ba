"""otelctx.api.ratelimit: token buckets on a fake clock, bounded memory, client addresses."""

from __future__ import annotations

import pytest

from otelctx.api.ratelimit import TokenBuckets, client_key


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_new_client_gets_a_full_burst_then_waits_for_the_refill() -> None:
    clock = Clock()
    buckets = TokenBuckets(5, clock=clock)
    assert [buckets.take("a") for _ in range(5)] == [0.0] * 5
    assert buckets.take("a") == pytest.approx(0.2)  # one token per 1/5 s
    clock.now += 0.1
    assert buckets.take("a") == pytest.approx(0.1)
    clock.now += 0.1
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0


def test_refill_is_continuous_and_capped_at_the_burst() -> None:
    clock = Clock()
    buckets = TokenBuckets(10, burst=3, clock=clock)
    for _ in range(3):
        assert buckets.take("a") == 0.0
    clock.now += 0.25  # 2.5 tokens
    assert [buckets.take("a") == 0.0 for _ in range(3)] == [True, True, False]
    clock.now += 3600  # long idle: still only the burst
    assert [buckets.take("a") == 0.0 for _ in range(4)] == [True, True, True, False]


def test_clients_have_their_own_buckets() -> None:
    clock = Clock()
    buckets = TokenBuckets(1, clock=clock)
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    assert buckets.take("b") == 0.0


def test_refusals_do_not_push_the_next_token_further_away() -> None:
    clock = Clock()
    buckets = TokenBuckets(2, clock=clock)
    buckets.take("a")
    buckets.take("a")
    for _ in range(100):
        assert buckets.take("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert buckets.take("a") == 0.0


def test_a_clock_stepping_back_neither_drains_nor_fills() -> None:
    clock = Clock()
    buckets = TokenBuckets(1, burst=2, clock=clock)
    assert buckets.take("a") == 0.0
    clock.now -= 50
    assert buckets.take("a") == 0.0  # the one token left
    assert buckets.take("a") > 0


def test_idle_buckets_are_forgotten_once_full_again() -> None:
    clock = Clock()
    buckets = TokenBuckets(10, clock=clock)  # empty to full in 1 s
    for n in range(1000):
        buckets.take(f"10.0.{n // 256}.{n % 256}")
    assert len(buckets) == 1000
    clock.now += 0.5
    buckets.take("x")
    assert len(buckets) == 1001  # not yet full: kept
    clock.now += 0.6
    buckets.take("y")
    assert len(buckets) == 2  # x (0.6 s old) and y


def test_bucket_count_is_bounded_evicting_the_idle_longest() -> None:
    clock = Clock()
    buckets = TokenBuckets(1, clock=clock, max_buckets=3)
    for key in "abc":
        assert buckets.take(key) == 0.0  # each now empty
    assert buckets.take("a") > 0  # a is used again: b is now idle longest
    assert buckets.take("d") == 0.0  # evicts b
    assert len(buckets) == 3
    assert buckets.take("a") > 0  # a kept its (empty) bucket
    assert buckets.take("b") == 0.0  # b was forgotten: a full bucket again
    assert len(buckets) == 3


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((0,), {}), ((-1,), {}), ((5,), {"burst": 0.5}), ((5,), {"max_buckets": 0})],
)
def test_invalid_parameters(args: tuple[float], kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        TokenBuckets(*args, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("peer", "forwarded", "trust", "expected"),
    [
        ("192.0.2.7", None, False, "192.0.2.7"),
        ("192.0.2.7", "203.0.113.9", False, "192.0.2.7"),  # not trusted: ignored
        ("192.0.2.7", "203.0.113.9", True, "203.0.113.9"),
        ("192.0.2.7", " 203.0.113.9 , 10.0.0.1", True, "203.0.113.9"),  # first entry
        ("192.0.2.7", "203.0.113.9:5060", True, "203.0.113.9"),
        ("192.0.2.7", "[2001:db8::1]:443", True, "2001:db8::/64"),
        ("192.0.2.7", "unknown", True, "192.0.2.7"),  # not an address: the peer counts
        ("192.0.2.7", "", True, "192.0.2.7"),
        ("192.0.2.7", ", 203.0.113.9", True, "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", None, False, "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", None, False, "2001:db8:1:2::/64"),  # same /64, same bucket
        ("::ffff:192.0.2.7", None, False, "192.0.2.7"),
        ("/run/otelctx.sock", None, False, "/run/otelctx.sock"),
        (None, None, False, "unknown"),
        (None, "203.0.113.9", True, "203.0.113.9"),
    ],
)
def test_client_key(peer: str | None, forwarded: str | None, trust: bool, expected: str) -> None:
    assert client_key(peer, forwarded, trust) == expected
