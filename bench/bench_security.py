"""What request protection costs per request: key lookup, token bucket, the whole check.

- ``KeyTable.lookup``: SHA-256 of the presented key, then ``hmac.compare_digest`` against
  every key (constant time, so the cost grows with the number of keys).
- ``TokenBuckets.take``: one client, and 100,000 distinct clients (the bucket bound).
- ``Security.check``: the whole middleware decision for an authenticated ``/api`` request
  (rate limit, key, tenant, gate), without sockets.

Single process, one thread; best of ``--repeats`` runs of at least ``--min-time`` seconds.
Run: ``.venv/bin/python bench/bench_security.py`` (``--quick`` for a short run).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from otelctx.api.ratelimit import TokenBuckets
from otelctx.api.security import Security
from otelctx.auth import KeyTable, parse_key_file
from otelctx.dbhealth import DbHealth
from otelctx.telemetry import create_metrics


def per_call(fn: Callable[[], Any], repeats: int, min_time: float) -> float:
    """Best seconds per call over ``repeats`` runs of at least ``min_time`` seconds."""
    best = float("inf")
    for _ in range(repeats):
        n, t0 = 0, time.perf_counter()
        while True:
            for _ in range(1000):
                fn()
            n += 1000
            elapsed = time.perf_counter() - t0
            if elapsed >= min_time:
                break
        best = min(best, elapsed / n)
    return best


def table(n: int) -> KeyTable:
    text = "\n".join(f"k3y-{i:08d}-0123456789abcdef=tenant-{i % 100}" for i in range(n))
    return KeyTable(parse_key_file(text))


async def _noop(scope: Any, receive: Any, send: Any) -> None:
    return None


def _check(security: Security, scope: dict[str, Any]) -> None:
    security.check(dict(scope))  # check() writes the identity into the scope: a fresh one


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--min-time", type=float, default=0.5)
    args = p.parse_args()
    repeats, min_time = (3, 0.1) if args.quick else (args.repeats, args.min_time)

    def show(label: str, seconds: float) -> None:
        print(f"{label:<48} {seconds * 1e6:9.2f} µs/call  {1 / seconds:12,.0f} calls/s")

    for n in (1, 10, 100, 1000, 10_000):
        keys = table(n)
        last = f"k3y-{n - 1:08d}-0123456789abcdef".encode()
        show(f"KeyTable.lookup, {n} keys", per_call(partial(keys.lookup, last), repeats, min_time))

    clock = [0.0]
    one = TokenBuckets(1e12, clock=lambda: clock[0])
    show(
        "TokenBuckets.take, one client", per_call(partial(one.take, "192.0.2.1"), repeats, min_time)
    )
    many = TokenBuckets(1e12, clock=lambda: clock[0])
    clients = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(100_000)]
    it = iter(range(1 << 62))
    show(
        "TokenBuckets.take, 100,000 clients round robin",
        per_call(lambda: many.take(clients[next(it) % 100_000]), repeats, min_time),
    )

    for n in (2, 1000):
        security = Security(
            _noop, keys=table(n), limiter=TokenBuckets(1e12), trust_proxy=False,
            health=DbHealth(), metrics=create_metrics("sqlite"), db_retry_after_s=5,
        )  # fmt: skip
        scope = {
            "type": "http",
            "path": "/api/traces/0123456789abcdef0123456789abcdef",
            "client": ("192.0.2.1", 50000),
            "headers": [
                (b"host", b"localhost"),
                (b"authorization", b"Bearer k3y-00000001-0123456789abcdef"),
                (b"x-tenant-id", b"tenant-1"),
                (b"accept", b"application/json"),
            ],
        }
        show(
            f"Security.check, authenticated /api, {n} keys",
            per_call(partial(_check, security, scope), repeats, min_time),
        )


if __name__ == "__main__":
    main()
