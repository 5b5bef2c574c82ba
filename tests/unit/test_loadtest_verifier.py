"""--verify against a scripted service-map API on a real localhost socket: windows that
come back sampled are split, 429 waits for Retry-After, other statuses stop with the
reason, and what stays missing is counted as lost."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import h11
import orjson
import pytest
import trio

from loadtest.options import parse_args
from loadtest.verifier import VerifyResult, verify
from loadtest.verify import BUCKET_NS, VerifyError

Answer = tuple[int, dict[str, str], bytes]
STORED = {  # bucket → service → spans the "server" stored
    100: {"loadsim-svc-000": 3, "loadsim-svc-001": 2},
    101: {"loadsim-svc-000": 4},
    102: {"loadsim-svc-001": 5},
    103: {"loadsim-svc-000": 1},
}


def _counts(start_ns: int, end_ns: int) -> Counter[str]:
    total: Counter[str] = Counter()
    for bucket in range(start_ns // BUCKET_NS, end_ns // BUCKET_NS):
        total.update(STORED.get(bucket, {}))
    return total


def exact(start: int, end: int) -> Answer:
    nodes = [{"name": k, "span_count": v} for k, v in _counts(start, end).items()]
    return 200, {}, orjson.dumps({"nodes": nodes, "edges": []})


def sampled_when_wide(start: int, end: int) -> Answer:
    """Exact for one bucket; a (wrong) half-sample estimate for anything wider."""
    if end - start <= BUCKET_NS:
        return exact(start, end)
    nodes = [{"name": k, "span_count": v * 2} for k, v in _counts(start, end).items()]
    return 200, {}, orjson.dumps({"nodes": nodes, "edges": [], "sample_rate": 0.5})


async def _serve(
    answer: Callable[[int, int], Answer],
    seen: list[tuple[int, int]],
    listeners: list[trio.SocketListener],
) -> None:
    async def handle(stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(65536)
                conn.receive_data(data)
                if not data:
                    return
            elif isinstance(event, h11.Request):
                q = parse_qs(urlsplit(event.target.decode()).query)
                start, end = int(q["start"][0]), int(q["end"][0])
                seen.append((start, end))
                status, headers, body = answer(start, end)
                hdrs = [("content-length", str(len(body))), *headers.items()]
                await stream.send_all(conn.send(h11.Response(status_code=status, headers=hdrs)))
                await stream.send_all(conn.send(h11.Data(data=body)))
                await stream.send_all(conn.send(h11.EndOfMessage()))
            elif isinstance(event, h11.EndOfMessage):
                conn.start_next_cycle()
            else:
                return

    await trio.serve_listeners(handle, listeners)


async def _verify(
    answer: Callable[[int, int], Answer], acked: dict[int, dict[str, int]], wait: str = "5s"
) -> tuple[VerifyResult | VerifyError, list[tuple[int, int]], list[str]]:
    seen: list[tuple[int, int]] = []
    said: list[str] = []
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    opts = parse_args(["--protocol", "http", "--endpoint", f"http://127.0.0.1:{port}",
                       "--verify-timeout", wait])  # fmt: skip
    buckets = {b: Counter(per) for b, per in acked.items()}
    names = {f"loadsim-svc-{i:03d}" for i in range(3)}
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_serve, answer, seen, listeners)
            try:
                result: VerifyResult | VerifyError = await verify(
                    opts, [], buckets, names, said.append
                )
            except VerifyError as exc:
                result = exc
            nursery.cancel_scope.cancel()
    return result, seen, said


async def _result(
    answer: Callable[[int, int], Answer], acked: dict[int, dict[str, int]], wait: str = "5s"
) -> tuple[VerifyResult, list[tuple[int, int]], list[str]]:
    result, seen, said = await _verify(answer, acked, wait)
    assert isinstance(result, VerifyResult), result
    return result, seen, said


async def test_everything_stored_is_verified_in_one_exact_window() -> None:
    result, seen, _ = await _result(exact, STORED)
    assert result.comparison.lost == 0 and result.comparison.acked == 15
    assert seen == [(100 * BUCKET_NS, 104 * BUCKET_NS)]


async def test_sampled_answers_are_split_until_exact() -> None:
    result, seen, _ = await _result(sampled_when_wide, STORED)
    comparison = result.comparison
    assert (comparison.lost, comparison.extra, comparison.stored) == (0, 0, 15)
    exact_windows = [w for w in seen if w[1] - w[0] == BUCKET_NS]
    assert len(exact_windows) == 4 and result.windows == 4


async def test_missing_spans_are_lost_after_the_deadline() -> None:
    acked = {**STORED, 101: {"loadsim-svc-000": 6}}  # 2 more than stored
    result, seen, _ = await _result(exact, acked, wait="2s")
    assert result.comparison.lost == 2
    assert result.comparison.short == (("loadsim-svc-000", 10, 8),)
    assert len(seen) >= 2  # asked again while waiting


async def test_rate_limited_answers_are_asked_again() -> None:
    calls: list[int] = []

    def limited_once(start: int, end: int) -> Answer:
        calls.append(start)
        if len(calls) == 1:
            return 429, {"retry-after": "1"}, b'{"error":"rate limited"}'
        return exact(start, end)

    result, _, said = await _result(limited_once, STORED)
    assert result.comparison.lost == 0
    assert any("HTTP 429" in line for line in said)


@pytest.mark.parametrize("status", [404, 401, 500])
async def test_other_statuses_stop_with_the_reason(status: int) -> None:
    result, _, _ = await _verify(lambda s, e: (status, {}, b'{"error":"no"}'), STORED)
    assert isinstance(result, VerifyError)
    assert f"answered {status}" in str(result)
