"""otelctx.dbhealth: the gate closes after three failed pings in a row, one success opens it."""

from __future__ import annotations

import pytest

from otelctx.dbhealth import DbHealth


class Gauge:
    def __init__(self) -> None:
        self.values: list[float] = []

    def set(self, value: float) -> None:
        self.values.append(value)


def test_three_failures_in_a_row_close_the_gate_one_success_opens_it() -> None:
    gauge = Gauge()
    health = DbHealth(gauge)
    assert health.healthy and health.up
    health.observe("connection refused")
    health.observe("connection refused")
    assert health.healthy and not health.up  # two blips: still serving
    health.observe("ping timed out after 2 s")
    assert not health.healthy and health.consecutive_failures == 3
    health.observe("connection refused")
    assert not health.healthy
    health.observe(None)
    assert health.healthy and health.up and health.consecutive_failures == 0
    assert gauge.values == [0, 0, 0, 0, 1]  # otelcontext_db_up follows every ping


def test_a_success_in_between_starts_the_count_again() -> None:
    health = DbHealth()
    for problem in ("down", "down", None, "down", "down"):
        health.observe(problem)
    assert health.healthy
    health.observe("down")
    assert not health.healthy


def test_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError):
        DbHealth(threshold=0)
