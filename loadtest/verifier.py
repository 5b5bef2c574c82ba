"""``--verify`` against the API: poll the service map window by window (``loadtest.verify``)
until every service's stored count reaches its acknowledged count, or the deadline.

Each round asks, for every window not yet complete, ``GET /api/metrics/service-map``
with the run's tenant and API key; a window answered with a sample is split and asked
again at once. Windows that match are not asked again. Between rounds it waits 1 s, or
the ``Retry-After`` of a 429/503.

Error handling: an answer that is not the documented shape, any other status (404 on a
server without the route, 401/403 for a wrong key), or a window that stays sampled
down to 100 ms raise ``VerifyError`` with what was wrong; connection failures and
timeouts are retried until the deadline. Resource handling: one keep-alive connection,
closed on return.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass

import trio

from loadtest.http11 import HTTPConnection, HTTPError, client_ssl_context
from loadtest.options import Options
from loadtest.retry import parse_retry_after
from loadtest.verify import (
    Bucketed,
    Comparison,
    ServiceMapCounts,
    VerifyError,
    Window,
    combine,
    compare,
    parse_service_map,
    plan_windows,
    service_map_target,
    split,
)

POLL_S = 1.0
REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class VerifyResult:
    comparison: Comparison
    windows: int
    waited_s: float


class _Later(Exception):
    """Ask again after ``wait`` seconds (rate limit, unavailable, no answer)."""

    def __init__(self, wait: float, reason: str) -> None:
        super().__init__(reason)
        self.wait = wait


async def verify(
    opts: Options,
    headers: list[tuple[str, str]],
    buckets: Bucketed,
    names: Collection[str],
    say: Callable[[str], None],
) -> VerifyResult:
    """Compare ``buckets`` (acknowledged spans) with the server's counts; see module doc."""
    api = opts.api_endpoint
    tls = client_ssl_context(not opts.insecure) if api.tls else None
    conn = HTTPConnection(api.host, api.port, tls=tls)

    async def fetch(w: Window) -> ServiceMapCounts:
        target = service_map_target(api.base_path, w.start_ns, w.end_ns)
        try:
            with trio.fail_after(REQUEST_TIMEOUT_S):
                resp = await conn.request("GET", target, headers)
        except (HTTPError, trio.TooSlowError) as exc:
            raise _Later(POLL_S, f"{api.authority}: {exc or 'no answer'}") from None
        if resp.status == 200:
            return parse_service_map(resp.body)
        if resp.status in (429, 503):
            wait = parse_retry_after(resp.headers.get("retry-after"), time.time())
            raise _Later(wait or POLL_S, f"HTTP {resp.status}")
        detail = resp.body[:300].decode("utf-8", "replace")
        raise VerifyError(f"GET {target} answered {resp.status}: {detail}")

    t0 = trio.current_time()
    deadline = t0 + opts.verify_timeout_s
    windows = plan_windows(buckets)
    latest: dict[tuple[int, int], Comparison] = {}
    pending = deque(windows)
    try:
        while pending:
            wait = POLL_S
            still: deque[Window] = deque()
            while pending:
                w = pending.popleft()
                try:
                    counts = await fetch(w)
                except _Later as later:
                    say(f"verify: {later}; asking again")
                    wait = later.wait
                    still.extend([w, *pending])
                    break
                if counts.sample_rate < 1:
                    halves = split(w, buckets)
                    if halves is None:
                        raise VerifyError("the service map is sampled even over 100 ms")
                    pending.extendleft(reversed(halves))
                    continue
                result = compare(w.expected, counts.spans, names)
                latest[(w.first, w.last)] = result
                if not result.complete:
                    still.append(w)
            pending = still
            if not pending or trio.current_time() + wait > deadline:
                break
            await trio.sleep(wait)
    finally:
        await conn.aclose()
    unanswered = [w for w in pending if (w.first, w.last) not in latest]
    if unanswered:
        raise VerifyError(f"the service map never answered for {len(unanswered)} windows")
    return VerifyResult(combine(latest.values()), len(latest), trio.current_time() - t0)
