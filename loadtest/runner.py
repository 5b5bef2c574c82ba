"""The simulator program: ``python -m loadtest [flags]`` (``--help`` lists them).

Process shape::

    trio.run → trio_asyncio.open_loop()        (grpclib's asyncio loop)
      root nursery
        signals     first SIGINT/SIGTERM: stop launching; second: cancel the sending
        progress    a line every --progress-interval
        services    one task per simulated service, each with its own connection
      summary, then --verify (poll the API until the stored counts match)

Exit status: 0 when every export was acknowledged (and, with ``--verify``, stored);
1 when an export failed permanently, the server rejected items, or ``lost`` > 0 or the
verification could not run; 2 for bad flags; 130 when a second signal cut the run off.
"""

from __future__ import annotations

import os
import signal
import sys

import trio
import trio_asyncio

from loadtest.build import RequestBuilder
from loadtest.exporter import RunContext, close_transport, run_service
from loadtest.options import Options, Protocol, UsageError, parse_args
from loadtest.pacing import start_offsets
from loadtest.retry import RetryPolicy
from loadtest.shape import service_name
from loadtest.stats import RunInfo, Stats, format_progress, format_summary
from loadtest.transport.base import Transport
from loadtest.transport.grpc import GRPCTransport
from loadtest.transport.http import HTTPTransport
from loadtest.verifier import verify
from loadtest.verify import VerifyError, format_verify

SUMMARY_MARKER = "── summary"  # run_local measures the server up to this line


def _say(line: str) -> None:
    print(line, flush=True)


def _headers(opts: Options) -> list[tuple[str, str]]:
    out = []
    if opts.tenant_id is not None:
        out.append(("x-tenant-id", opts.tenant_id))
    if opts.api_key is not None:
        out.append(("authorization", f"Bearer {opts.api_key}"))
    return out


async def _make_transport(opts: Options) -> Transport:
    if opts.protocol is Protocol.GRPC:
        grpc = GRPCTransport(opts.endpoint, _headers(opts))
        await grpc.open()
        return grpc
    return HTTPTransport(opts.endpoint, _headers(opts), verify_tls=not opts.insecure)


class Program:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.ctx = RunContext(
            options=opts,
            stats=Stats(),
            builder=RequestBuilder(),
            policy=RetryPolicy(max_elapsed_s=opts.max_retry_s),
            stop=trio.Event(),
            run_id=os.urandom(6),
        )
        self.send_scope = trio.CancelScope()
        self.verify_scope = trio.CancelScope()
        self.cut_off = False

    async def run(self) -> int:
        opts = self.opts
        target = (
            opts.endpoint.authority
            if opts.protocol is Protocol.GRPC
            else f"http{'s' if opts.endpoint.tls else ''}://{opts.endpoint.authority}"
            f"{opts.endpoint.base_path}"
        )
        _say(f"loadtest: {opts.services} services x {opts.rate:g} spans/s for"
             f" {opts.duration_s:g}s (started over {opts.warmup_s:g}s) →"
             f" {opts.protocol.value} {target}")  # fmt: skip
        async with trio.open_nursery() as root:
            await root.start(self._watch_signals, name="signals")
            t0 = trio.current_time()
            with self.send_scope:
                async with trio.open_nursery() as sending:
                    sending.start_soon(self._progress, t0, name="progress")
                    async with trio.open_nursery() as services:
                        for i, offset in enumerate(start_offsets(opts.services, opts.warmup_s)):
                            services.start_soon(self._service, i, t0 + offset,
                                                name=service_name(i))  # fmt: skip
                    sending.cancel_scope.cancel()  # the progress task
            wall = trio.current_time() - t0
            info = RunInfo(opts.services, opts.rate, wall, self.ctx.service_seconds,
                           self.ctx.stop.is_set() or self.cut_off, opts.warmup_s,
                           opts.batch_interval_s)  # fmt: skip
            for line in format_summary(info, self.ctx.stats):
                _say(line)
            code = self._exit_code()
            if opts.verify and not self.cut_off:
                with self.verify_scope:
                    code = max(code, await self._verify())
                if self.verify_scope.cancelled_caught:
                    _say("verify: interrupted")
                    self.cut_off = True
            root.cancel_scope.cancel()
        return 130 if self.cut_off else code

    def _exit_code(self) -> int:
        c = self.ctx.stats.counters
        return 1 if c.failed_exports or c.rejected_items else 0

    async def _service(self, index: int, start_at: float) -> None:
        transport = await _make_transport(self.opts)
        try:
            end_at = start_at + self.opts.duration_s
            await run_service(self.ctx, index, transport, start_at, end_at)
        finally:
            await close_transport(transport)

    async def _watch_signals(self, *, task_status: trio.TaskStatus[None]) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()  # from here on a signal is ours, not a KeyboardInterrupt
            async for signum in signals:
                name = signal.Signals(signum).name
                if not self.ctx.stop.is_set():
                    _say(f"loadtest: {name}: stop launching, flushing exports in flight"
                         " (again to cut off)")  # fmt: skip
                    self.ctx.stop.set()
                else:
                    _say(f"loadtest: {name} again: cutting off")
                    self.cut_off = True
                    self.send_scope.cancel()
                    self.verify_scope.cancel()

    async def _progress(self, t0: float) -> None:
        every = self.opts.progress_interval_s
        stats = self.ctx.stats
        tick = t0 + every
        while True:
            await trio.sleep_until(tick)
            acked, latencies = stats.window()
            _say(format_progress(tick - t0, stats.counters, acked, every, latencies))
            tick += every

    async def _verify(self) -> int:
        """``lost=N`` once the stored counts match (or --verify-timeout passes); 0 when
        nothing is lost."""
        stats = self.ctx.stats
        if not stats.acked_by_bucket:
            _say("verify: nothing was acknowledged")
            _say("lost=0")
            return 0
        names = {service_name(i) for i in range(self.opts.services)}
        try:
            result = await verify(self.opts, _headers(self.opts), stats.acked_by_bucket,
                                  names, _say)  # fmt: skip
        except VerifyError as exc:
            _say(f"verify: cannot verify: {exc}")
            return 1
        for line in format_verify(result.comparison, result.waited_s, result.windows):
            _say(line)
        return 0 if result.comparison.complete else 1


async def _main(opts: Options) -> int:
    async with trio_asyncio.open_loop():
        return await Program(opts).run()


def main(argv: list[str] | None = None) -> None:
    try:
        opts = parse_args(argv)
    except UsageError as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(trio.run(_main, opts))
