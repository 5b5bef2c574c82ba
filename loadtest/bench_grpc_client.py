"""What the simulator's gRPC side costs: grpclib under trio-asyncio against plain asyncio.

Starts a fresh otelctx (SQLite, temporary directory), then runs the same paced load
twice, each in its own process: ``--connections`` grpclib channels each exporting one
prebuilt 50-span request per second for ``--seconds``, (a) from Trio, crossing into
asyncio once per export (``aio_as_trio``, what ``loadtest`` does), and (b) from a plain
asyncio program. Prints each client's CPU per export and in cores.

    python -m loadtest.bench_grpc_client [--connections 200] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import resource
import time
from typing import Any

from loadtest.build import RequestBuilder
from loadtest.options import Endpoint
from loadtest.shape import TraceShaper
from loadtest.transport.base import Acked, Signal


def _body(index: int, services: int) -> bytes:
    shaper = TraceShaper(index, services, b"\x00bench", 1)
    return RequestBuilder().traces(shaper.batch(50, time.time_ns(), 1_000_000_000)).body


async def _asyncio_client(endpoint: Endpoint, connections: int, seconds: float) -> int:
    from grpclib.client import Channel
    from grpclib.const import Cardinality

    from loadtest.transport.grpc import _RawCodec

    bodies = [_body(i, connections) for i in range(connections)]
    channels = [Channel(endpoint.host, endpoint.port, codec=_RawCodec()) for _ in bodies]
    loop = asyncio.get_running_loop()
    _cpu_at_start.append(_cpu())
    end = loop.time() + seconds
    acked = 0

    async def one(i: int) -> None:
        nonlocal acked
        next_at = loop.time() + i / connections
        while next_at < end:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            async with channels[i].request(
                Signal.TRACES.grpc_path, Cardinality.UNARY_UNARY, bytes, bytes
            ) as stream:
                await stream.send_message(bodies[i], end=True)
                await stream.recv_message()
            acked += 1
            next_at += 1.0

    await asyncio.gather(*(one(i) for i in range(connections)))
    for ch in channels:
        ch.close()
    return acked


async def _trio_client(endpoint: Endpoint, connections: int, seconds: float) -> int:
    import trio
    import trio_asyncio

    from loadtest.transport.grpc import GRPCTransport

    bodies = [_body(i, connections) for i in range(connections)]
    acked = 0
    async with trio_asyncio.open_loop():
        transports = [GRPCTransport(endpoint, []) for _ in bodies]
        for t in transports:
            await t.open()
        _cpu_at_start.append(_cpu())
        end = trio.current_time() + seconds

        async def one(i: int) -> None:
            nonlocal acked
            next_at = trio.current_time() + i / connections
            while next_at < end:
                await trio.sleep_until(next_at)
                if isinstance(await transports[i].export(Signal.TRACES, bodies[i]), Acked):
                    acked += 1
                next_at += 1.0

        async with trio.open_nursery() as nursery:
            for i in range(connections):
                nursery.start_soon(one, i)
        for t in transports:
            await t.aclose()
    return acked


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_cpu_at_start: list[float] = []  # CPU when the paced loop starts (after imports, bodies)


def _child(kind: str, endpoint: Endpoint, connections: int, seconds: float, q: Any) -> None:
    if kind == "asyncio":
        acked = asyncio.run(_asyncio_client(endpoint, connections, seconds))
    else:
        import trio

        acked = trio.run(_trio_client, endpoint, connections, seconds)
    q.put((acked, _cpu() - _cpu_at_start[0]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    from loadtest.server import LocalServer

    with LocalServer.start() as srv:
        endpoint = Endpoint("127.0.0.1", srv.grpc_port, False)
        ctx = mp.get_context("spawn")
        for kind in ("trio+trio_asyncio", "asyncio"):
            q = ctx.Queue()
            proc = ctx.Process(
                target=_child, args=(kind, endpoint, args.connections, args.seconds, q)
            )
            proc.start()
            acked, cpu = q.get(timeout=args.seconds + 120)
            proc.join()
            print(f"{kind:18} {acked} exports, client CPU {cpu:.2f} s ="
                  f" {cpu / args.seconds:.3f} cores, {cpu / max(acked, 1) * 1e6:.0f} µs/export"
                  " (paced loop only)")  # fmt: skip


if __name__ == "__main__":
    main()
