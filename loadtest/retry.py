"""Retry policy of the simulated exporters, like an OpenTelemetry SDK's.

A retryable failure (gRPC ``UNAVAILABLE``, HTTP 429/502/503/504, a broken connection, a
timed-out attempt) is retried after the delay the server asked for (``RetryInfo`` /
``Retry-After``, plus up to 20% so that refused clients spread out) or else after an
exponential backoff (0.5 s doubling to 8 s, +-20% jitter). Once the next attempt would
start later than ``max_elapsed_s`` after the first, the export gives up: a permanent
failure. Anything else fails at once.
"""

from __future__ import annotations

import email.utils
import math
import random
from dataclasses import dataclass

INITIAL_BACKOFF_S = 0.5
MAX_BACKOFF_S = 8.0
JITTER = 0.2
# HTTP statuses an OTLP/HTTP exporter retries (specification: 429, 502, 503, 504)
RETRYABLE_HTTP = frozenset({429, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_elapsed_s: float = 30.0
    initial_s: float = INITIAL_BACKOFF_S
    max_backoff_s: float = MAX_BACKOFF_S
    jitter: float = JITTER

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Delay after failed attempt number ``attempt`` (1-based) without a server hint."""
        base = min(self.max_backoff_s, self.initial_s * 2 ** (attempt - 1))
        return float(base * (1 + rng.uniform(-self.jitter, self.jitter)))

    def next_delay(
        self,
        attempt: int,
        elapsed_s: float,
        server_delay_s: float | None,
        rng: random.Random,
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to give up.

        ``elapsed_s`` is the time since the first attempt started. A server's delay is
        honoured: the wait is that long or up to ``jitter`` longer, never shorter."""
        if server_delay_s is not None and math.isfinite(server_delay_s):
            # at least what the server asked, plus up to 20%: clients refused together
            # must not come back together (every refusal carries the same delay)
            delay = max(0.0, server_delay_s) * (1 + rng.uniform(0, self.jitter))
        else:
            delay = self.backoff(attempt, rng)
        if elapsed_s + delay > self.max_elapsed_s:
            return None
        return delay


def parse_retry_after(value: str | None, now_unix_s: float) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP-date; None if
    absent or unreadable (the caller then backs off on its own)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now_unix_s)
