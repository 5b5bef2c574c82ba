"""The per-service export loop with a scripted transport, on Trio's autojump clock:
retries like an SDK, counts every outcome, paces to the rate, stops on request."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

import pytest
import trio
import trio.testing

from loadtest.build import RequestBuilder
from loadtest.exporter import RunContext, deliver, run_service
from loadtest.options import parse_args
from loadtest.retry import RetryPolicy
from loadtest.shape import TraceShaper
from loadtest.stats import Stats
from loadtest.transport.base import Acked, Failed, Outcome, Refused, Signal


class ScriptedTransport:
    """Answers from a script (the last answer repeats); records what was sent when."""

    def __init__(self, *answers: Outcome | Callable[[], Outcome], hang: bool = False) -> None:
        self.answers = list(answers) or [Acked()]
        self.hang = hang
        self.calls: list[tuple[float, Signal, int]] = []

    async def export(self, signal: Signal, body: bytes) -> Outcome:
        self.calls.append((trio.current_time(), signal, len(body)))
        if self.hang:
            await trio.sleep_forever()
        await trio.sleep(0.01)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer() if callable(answer) else answer

    async def aclose(self) -> None:
        pass


def _ctx(*flags: str) -> RunContext:
    opts = parse_args(["--services", "3", *flags])
    return RunContext(opts, Stats(), RequestBuilder(), RetryPolicy(opts.max_retry_s),
                      trio.Event(), b"runid!", rng=random.Random(0))  # fmt: skip


def _request(ctx: RunContext, n: int = 20):  # type: ignore[no-untyped-def]
    spans = TraceShaper(0, 3, ctx.run_id, 1).batch(n, 10**18, 10**9)
    return ctx.builder.traces(spans)


async def test_refusals_are_retried_after_the_servers_delay(autojump_clock: object) -> None:
    ctx = _ctx()
    t = ScriptedTransport(Refused(2.0, "full"), Refused(2.0, "full"), Acked())
    req = _request(ctx)
    t0 = trio.current_time()
    assert await deliver(ctx, t, Signal.TRACES, req)
    c = ctx.stats.counters
    assert (c.refused, c.retried, c.errors, c.failed_exports) == (2, 2, 0, 0)
    assert c.acked == req.items and c.exports_acked == 1
    gaps = [b[0] - a[0] - 0.01 for a, b in itertools.pairwise(t.calls)]
    assert t.calls[0][0] == t0
    assert all(2.0 <= gap <= 2.4 for gap in gaps) and len(gaps) == 2
    assert ctx.stats.latencies_s == pytest.approx([0.01])  # the successful attempt only


async def test_without_a_delay_the_backoff_grows(autojump_clock: object) -> None:
    ctx = _ctx()
    t = ScriptedTransport(Failed("reset", retryable=True), Refused(None, "busy"),
                          Refused(None, "busy"), Acked())  # fmt: skip
    assert await deliver(ctx, t, Signal.TRACES, _request(ctx))
    gaps = [b[0] - a[0] - 0.01 for a, b in itertools.pairwise(t.calls)]
    assert 0.4 <= gaps[0] <= 0.6 and 0.8 <= gaps[1] <= 1.2 and 1.6 <= gaps[2] <= 2.4
    assert ctx.stats.counters.errors == 1 and ctx.stats.counters.refused == 2


async def test_a_non_retryable_answer_fails_at_once(autojump_clock: object) -> None:
    ctx = _ctx()
    t = ScriptedTransport(Failed("HTTP 400: bad", retryable=False))
    req = _request(ctx)
    assert not await deliver(ctx, t, Signal.TRACES, req)
    c = ctx.stats.counters
    assert (len(t.calls), c.failed_exports, c.failed, c.errors, c.acked) == (1, 1, req.items, 1, 0)
    assert ctx.stats.first_errors == {"HTTP 400: bad": 1}


async def test_refused_forever_gives_up_after_max_retry_time(autojump_clock: object) -> None:
    ctx = _ctx("--max-retry-time", "30s")
    t = ScriptedTransport(Refused(1.0, "full"))
    t0 = trio.current_time()
    assert not await deliver(ctx, t, Signal.TRACES, _request(ctx))
    # the last wait would have ended past 30 s (each wait is 1.0..1.2 s plus the attempt)
    assert 30 - 1.2 <= trio.current_time() - t0 <= 30 + 0.011
    assert ctx.stats.counters.failed_exports == 1
    assert any(m.startswith("gave up after --max-retry-time") for m in ctx.stats.first_errors)


async def test_an_attempt_without_answer_times_out_and_is_retried(autojump_clock: object) -> None:
    ctx = _ctx("--timeout", "2s", "--max-retry-time", "5s")
    t = ScriptedTransport(hang=True)
    assert not await deliver(ctx, t, Signal.TRACES, _request(ctx))
    assert len(t.calls) >= 2
    assert ctx.stats.counters.errors == len(t.calls)
    assert any("no answer within --timeout 2s" in m for m in ctx.stats.first_errors)


async def test_partial_success_counts_the_rejected_items(autojump_clock: object) -> None:
    ctx = _ctx()
    t = ScriptedTransport(Acked(3, "3 spans invalid"))
    assert await deliver(ctx, t, Signal.TRACES, _request(ctx))
    assert ctx.stats.counters.rejected_items == 3


async def test_a_cancelled_export_counts_its_spans_unfinished(autojump_clock: object) -> None:
    ctx = _ctx()
    req = _request(ctx)
    with trio.move_on_after(1):
        await deliver(ctx, ScriptedTransport(hang=True), Signal.TRACES, req)
    assert ctx.stats.counters.unfinished == req.items
    assert ctx.stats.counters.acked == 0


async def test_a_service_sends_its_rate_for_its_duration_in_batches(autojump_clock: object) -> None:
    ctx = _ctx("--rate", "50", "--batch-interval", "1s", "--logs-per-span", "1",
               "--metrics-interval", "5s")  # fmt: skip
    t = ScriptedTransport()
    start = trio.current_time() + 2
    await run_service(ctx, 1, t, start, start + 10)
    c = ctx.stats.counters
    assert 500 <= c.sent <= 503 and c.acked == c.sent
    assert c.logs_sent == c.logs_acked == c.sent
    assert c.points_sent == c.points_acked == 2 * 6  # at 5 s and at the end
    trace_calls = [when - start for when, signal, _ in t.calls if signal is Signal.TRACES]
    assert trace_calls == pytest.approx([float(i) for i in range(1, 11)], abs=0.05)
    assert sum(ctx.stats.acked_by_service.values()) == c.acked
    assert set(ctx.stats.acked_by_service) <= {"loadsim-svc-001", "loadsim-svc-002"}
    assert ctx.service_seconds == pytest.approx(10.0)
    by_bucket = sum(sum(per.values()) for per in ctx.stats.acked_by_bucket.values())
    assert by_bucket == c.acked


async def test_stop_ends_a_service_after_its_export_in_flight(autojump_clock: object) -> None:
    ctx = _ctx("--rate", "10")
    slow = ScriptedTransport(Refused(3.0, "full"), Acked())
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_service, ctx, 0, slow, start, start + 60)
        await trio.sleep(1.5)  # the first export is being retried
        ctx.stop.set()
    assert trio.current_time() - start < 5
    c = ctx.stats.counters
    assert c.sent == c.acked == 10 and c.unfinished == 0
    assert ctx.service_seconds == pytest.approx(trio.current_time() - start, abs=0.1)


async def test_a_service_told_to_stop_before_its_start_sends_nothing(
    autojump_clock: object,
) -> None:
    ctx = _ctx()
    ctx.stop.set()
    t = ScriptedTransport()
    await run_service(ctx, 2, t, trio.current_time() + 5, trio.current_time() + 10)
    assert t.calls == [] and ctx.service_seconds == 0
