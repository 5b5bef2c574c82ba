"""The simulated exporters' retry policy and Retry-After parsing."""

from __future__ import annotations

import random

import pytest

from loadtest.retry import RetryPolicy, parse_retry_after


def test_backoff_doubles_from_half_a_second_to_the_cap_with_jitter() -> None:
    policy = RetryPolicy()
    rng = random.Random(1)
    for attempt, base in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (9, 8.0)):
        for _ in range(50):
            assert base * 0.8 <= policy.backoff(attempt, rng) <= base * 1.2


def test_the_servers_delay_is_honoured_and_spread_a_little() -> None:
    policy = RetryPolicy(max_elapsed_s=30)
    rng = random.Random(1)
    delays = [policy.next_delay(1, 0.0, 2.5, rng) for _ in range(200)]
    assert all(d is not None and 2.5 <= d <= 3.0 for d in delays)
    assert len(set(delays)) > 100  # clients refused together come back apart
    assert policy.next_delay(7, 3.0, 0.0, rng) == 0.0
    assert policy.next_delay(1, 0.0, -1.0, rng) == 0.0


def test_gives_up_when_the_next_attempt_would_pass_the_max_elapsed_time() -> None:
    policy = RetryPolicy(max_elapsed_s=30)
    rng = random.Random(1)
    assert policy.next_delay(3, 27.0, 2.4, rng) == pytest.approx(2.4, rel=0.2)
    assert policy.next_delay(3, 27.0, 3.1, rng) is None
    assert policy.next_delay(1, 31.0, None, rng) is None
    assert RetryPolicy(max_elapsed_s=0).next_delay(1, 0.0, None, rng) is None


def test_a_refused_export_is_retried_until_about_max_elapsed() -> None:
    policy = RetryPolicy(max_elapsed_s=30)
    rng = random.Random(7)
    elapsed, attempts = 0.0, 1
    while (delay := policy.next_delay(attempts, elapsed, None, rng)) is not None:
        elapsed += delay
        attempts += 1
    assert 20 < elapsed <= 30
    assert 5 <= attempts <= 9


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        (" 10 ", 10.0),
        ("0", 0.0),
        (None, None),
        ("soon", None),
        ("-1", None),
        ("1.5", None),  # not valid delta-seconds
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past
    ],
)
def test_retry_after_is_seconds_or_an_http_date(header: str | None, expected: float | None) -> None:
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert parse_retry_after(header, now) == expected
