"""Per-client token buckets for ``API_RATE_LIMIT_RPS``, and the client address they key on.

Pure: no I/O, the clock is injected (``time.monotonic`` by default), so tests drive time.

Each client has a bucket of ``burst`` tokens (the original: burst = rate) that refills
continuously at ``rate`` tokens per second; a request takes one token or is refused with the
time until the next token. A new client starts with a full bucket.

Resource handling: memory stays bounded without a sweeper task. Buckets are kept in
last-use order; every call first drops the buckets idle for ``burst / rate`` seconds or more
(they have refilled completely, so forgetting them changes no answer), and beyond
``max_buckets`` live buckets the one idle longest is dropped (that client starts again with
a full bucket: under an attack from more addresses than that, the limiter gets more
lenient, never larger).
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["DEFAULT_MAX_BUCKETS", "TokenBuckets", "client_key"]

DEFAULT_MAX_BUCKETS = 100_000


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


class TokenBuckets:
    """Token buckets keyed by client; ``take(key)`` is 0.0 when allowed, else seconds to wait."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = DEFAULT_MAX_BUCKETS,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive (a rate of 0 means: no limiter at all)")
        self.rate = float(rate)
        self.burst = float(rate if burst is None else burst)
        if self.burst < 1:
            raise ValueError("burst must be at least one request")
        if max_buckets < 1:
            raise ValueError("max_buckets must be at least 1")
        self._clock = clock
        self._max = max_buckets
        self._refill_s = self.burst / self.rate  # empty to full
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> float:
        """Take one token from ``key``'s bucket: 0.0 if there was one, else the seconds
        until there will be one (> 0)."""
        now = self._clock()
        self._forget_idle(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(self.burst, now)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            # max(): a clock that steps back must not drain anyone's bucket
            elapsed = max(0.0, now - bucket.stamp)
            bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.rate)
            bucket.stamp = now
            self._buckets.move_to_end(key)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        buckets = self._buckets
        horizon = now - self._refill_s
        while buckets:
            oldest = next(iter(buckets.values()))
            if oldest.stamp > horizon:
                break
            buckets.popitem(last=False)


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    candidates = [text]
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        candidates.append(text[1 : text.index("]")])
    elif text.count(":") == 1:  # "192.0.2.1:5678"
        candidates.append(text.split(":", 1)[0])
    for candidate in candidates:
        try:
            return ipaddress.ip_address(candidate)
        except ValueError:
            continue
    return None


def _key_of(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        # One host usually holds a whole /64: keying on single IPv6 addresses would give
        # it 2**64 buckets.
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def client_key(peer: str | None, forwarded_for: str | None, trust_proxy: bool) -> str:
    """The rate-limit key of a client: its IP address (IPv6: its /64 network).

    ``peer`` is the address of the TCP peer. ``forwarded_for`` is the ``X-Forwarded-For``
    header; its first entry is used only when ``trust_proxy`` is set (anyone can send the
    header, so trusting it without a proxy that overwrites it lets clients pick their
    bucket), and only when it is an IP address; otherwise the peer address counts.
    """
    if trust_proxy and forwarded_for:
        first = _parse_ip(forwarded_for.split(",", 1)[0])
        if first is not None:
            return _key_of(first)
    if peer:
        ip = _parse_ip(peer)
        return _key_of(ip) if ip is not None else peer
    return "unknown"
