"""The database health gate: what the pings say, and whether the query API may use the database.

Pure state (stdlib only). Pings are made by ``nurseries/dbhealth.py`` every
``DB_HEALTH_INTERVAL`` and by ``GET /ready``; both report them to :meth:`DbHealth.observe`,
which is the only writer of ``otelcontext_db_up``.

- ``up``: the last ping succeeded (``otelcontext_db_up``).
- ``healthy``: the gate is open. It closes after ``threshold`` (3) failed pings in a row —
  one lost ping is a blip, not an outage — and opens again at the first ping that succeeds.
  It starts open: a database that failed to open has already stopped the server.

While the gate is closed the query API answers 503 at once instead of making every request
wait for its own timeout; ingest is not gated (it falls back to the dead-letter queue).
"""

from __future__ import annotations

import logging
from typing import Protocol

__all__ = ["FAILURES_TO_CLOSE", "DbHealth"]

FAILURES_TO_CLOSE = 3

log = logging.getLogger(__name__)


class _Gauge(Protocol):
    def set(self, value: float) -> None: ...


class DbHealth:
    """Consecutive ping failures and the gate they drive."""

    __slots__ = ("_gauge", "consecutive_failures", "healthy", "threshold", "up")

    def __init__(self, gauge: _Gauge | None = None, threshold: int = FAILURES_TO_CLOSE) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        self._gauge = gauge
        self.threshold = threshold
        self.consecutive_failures = 0
        self.up = True
        self.healthy = True

    def observe(self, problem: str | None) -> None:
        """Record one ping: ``None`` when it succeeded, else what went wrong."""
        if problem is None:
            if not self.healthy:
                log.info("database ping succeeds again: the query API serves again")
            elif not self.up:
                log.info("database ping succeeds again")
            self.consecutive_failures = 0
            self.up = True
            self.healthy = True
        else:
            if self.up:  # log the change, not every ping
                log.warning("database ping failed: %s", problem)
            self.consecutive_failures += 1
            self.up = False
            if self.healthy and self.consecutive_failures >= self.threshold:
                self.healthy = False
                log.warning(
                    "database unavailable for %d pings in a row: the query API answers 503 "
                    "until a ping succeeds (ingest goes on into the dead-letter queue)",
                    self.consecutive_failures,
                )
        if self._gauge is not None:
            self._gauge.set(1 if self.up else 0)
