"""Pacing: how many spans a service may emit, and when each service starts.

``Pacer`` is a token bucket filled at ``rate`` tokens/s from ``start``, read through an
injectable clock (seconds, any origin: ``trio.current_time`` in the program, a plain
function in tests). Without a ``burst`` cap it never forgets tokens, so a service held
up by a slow export catches up in its next batch and the total offered stays
``rate * elapsed`` (an SDK's batch queue does the same until its bound). Spending more
than is available (a parent's children) is allowed: the debt is paid from later tokens.
"""

from __future__ import annotations

import math
from collections.abc import Callable


class Pacer:
    """Whole tokens accrued at ``rate``/s since ``start`` minus those taken."""

    __slots__ = ("_burst", "_clock", "_rate", "_spent", "_start", "_stop")

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float],
        *,
        start: float | None = None,
        burst: float | None = None,
    ) -> None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a positive number, got {rate!r}")
        if burst is not None and burst < 1:
            raise ValueError("burst must be at least 1 token")
        self._rate = rate
        self._clock = clock
        self._start = clock() if start is None else start
        self._stop: float | None = None
        self._burst = burst
        self._spent = 0  # tokens taken (or forgotten under a burst cap), may exceed accrued

    def _accrued(self, now: float) -> int:
        if self._stop is not None:
            now = min(now, self._stop)
        return math.floor(max(0.0, now - self._start) * self._rate + 1e-9)

    def available(self) -> int:
        """Whole tokens that may be taken now (negative while in debt)."""
        accrued = self._accrued(self._clock())
        if self._burst is not None and accrued - self._spent > self._burst:
            self._spent = accrued - int(self._burst)  # a capped bucket forgets the excess
        return accrued - self._spent

    def take(self) -> int:
        """Take every available token; returns how many (0 while in debt)."""
        n = max(0, self.available())
        self._spent += n
        return n

    def spend(self, n: int) -> None:
        """Record ``n`` tokens used beyond what ``take`` returned (goes into debt)."""
        self._spent += n

    def stop_at(self, when: float) -> None:
        """No tokens accrue after ``when`` (the end of this service's run)."""
        self._stop = when


def start_offsets(services: int, warmup_s: float) -> list[float]:
    """Start time of each service after the run's start: linearly over ``warmup_s``,
    the first at 0 and the last at ``warmup_s``, so the full rate is reached then."""
    if services <= 0:
        raise ValueError("services must be positive")
    if services == 1:
        return [0.0]
    return [warmup_s * i / (services - 1) for i in range(services)]
