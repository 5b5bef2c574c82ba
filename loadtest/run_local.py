"""``just loadtest [flags]``: a load run against a fresh local otelctx, with its markers.

    python -m loadtest.run_local [simulator flags]

Without ``--endpoint``: starts ``otelctx serve`` on free ports (SQLite in a temporary
directory, or ``DB_DRIVER``/``DB_DSN`` from the environment; see ``loadtest.server``),
runs ``python -m loadtest --verify`` against it with the given flags, reads the
server's CPU (``/proc/<pid>/stat``, main process and decode workers, averaged from the
simulator's start to its summary) and peak RSS (``VmHWM``), scrapes
``/metrics/prometheus``, prints the healthy markers, and stops the server with SIGTERM.

With ``--endpoint``: no server is started; the simulator runs against it with
``--verify`` and the markers come from ``--api-endpoint``'s metrics (no CPU/RSS).

SIGINT/SIGTERM are passed on to the simulator (it stops launching, flushes and
summarises; a second one cuts it off); the server and the simulator run in their own
sessions so that a terminal's Ctrl-C reaches them only through here.

Exit status: the simulator's (non-zero when the verification failed or an export failed
permanently); 1 when the server could not start.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from types import FrameType

from loadtest import markers, procstat
from loadtest.options import Options, Protocol, UsageError, parse_args
from loadtest.runner import SUMMARY_MARKER
from loadtest.server import LocalServer, ServerError


def _has_flag(args: list[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in args)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class _SimRun:
    """The simulator subprocess; its output is echoed, the summary line timestamped."""

    def __init__(self, args: list[str], server_pid: int | None) -> None:
        self.args = args
        self.server_pid = server_pid
        self.machine_busy = 0.0  # CPU seconds of the whole machine, start to summary
        self.before: procstat.Sample | None = None
        self.after: procstat.Sample | None = None
        self.seconds = 0.0
        self.sim_cpu = 0.0
        self.wall = 0.0

    def run(self) -> int:
        cpu0 = _children_cpu()
        t0 = time.monotonic()
        busy0 = procstat.machine_busy_seconds()
        if self.server_pid is not None:
            self.before = procstat.sample(self.server_pid)
        proc = subprocess.Popen(
            [sys.executable, "-m", "loadtest", *self.args],
            stdout=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip

        def forward(signum: int, frame: FrameType | None) -> None:
            if proc.poll() is None:
                proc.send_signal(signum)

        old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith(SUMMARY_MARKER) and self.after is None:
                    self.seconds = time.monotonic() - t0
                    busy1 = procstat.machine_busy_seconds()
                    if busy0 is not None and busy1 is not None:
                        self.machine_busy = busy1 - busy0
                    if self.server_pid is not None:
                        self.after = procstat.sample(self.server_pid)
                print(line, end="", flush=True)
            code = proc.wait()
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
        self.wall = time.monotonic() - t0
        self.sim_cpu = _children_cpu() - cpu0
        return code


def _scrape(base: str) -> markers.Samples | None:
    try:
        with urllib.request.urlopen(base + "/metrics/prometheus", timeout=10) as resp:
            return markers.parse_prometheus(resp.read().decode())
    except (OSError, urllib.error.URLError) as exc:
        print(f"run_local: cannot scrape {base}/metrics/prometheus: {exc}", flush=True)
        return None


def _api_base(opts: Options) -> str:
    api = opts.api_endpoint
    return f"http{'s' if api.tls else ''}://{api.authority}{api.base_path}"


def _report(samples: markers.Samples | None, resources: list[markers.Marker],
            sim: _SimRun) -> None:  # fmt: skip
    found = markers.server_markers(samples) if samples is not None else []
    for line in markers.format_markers(found + resources):
        print(line)
    print(f"simulator CPU: {sim.sim_cpu / sim.wall if sim.wall else 0:.2f} cores"
          f" ({sim.sim_cpu:.1f} s over {sim.wall:.1f} s)", flush=True)  # fmt: skip
    if sim.seconds > 0:
        # the figures above depend on what else ran on the machine: say how busy it was
        print(f"machine: {os.cpu_count()} cores, {sim.machine_busy / sim.seconds:.2f} busy on"
              f" average during the run (everything: server, simulator, other processes);"
              f" load average {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip


def external(args: list[str], opts: Options) -> int:
    sim = _SimRun(args if opts.verify else [*args, "--verify"], None)
    code = sim.run()
    _report(_scrape(_api_base(opts)), markers.resource_markers(None, None, None, None), sim)
    return code


def local(args: list[str], opts: Options) -> int:
    try:
        with LocalServer.start() as srv:
            pid = srv.proc.pid
            print(
                f"run_local: otelctx pid {pid} on {srv.driver}: grpc=127.0.0.1:{srv.grpc_port}"
                f" http=127.0.0.1:{srv.http_port} (data in {srv.workdir})",
                flush=True,
            )
            if opts.protocol is Protocol.GRPC:
                endpoint = ["--endpoint", f"127.0.0.1:{srv.grpc_port}", "--insecure"]
            else:
                endpoint = ["--endpoint", srv.http_base]
            sim = _SimRun([*endpoint, "--api-endpoint", srv.http_base, "--verify", *args], pid)
            code = sim.run()
            main_cores = workers_cores = None
            if sim.before is not None and sim.after is not None:
                main_cores, workers_cores = procstat.cores_between(
                    sim.before, sim.after, sim.seconds
                )
            rss_main = procstat.peak_rss_mib(pid)
            rss_kids = [procstat.peak_rss_mib(k) for k in procstat.children(pid)]
            rss_workers = sum(r for r in rss_kids if r is not None)
            resources = markers.resource_markers(main_cores, workers_cores, rss_main, rss_workers)
            _report(_scrape(srv.http_base), resources, sim)
            status = srv.stop()
            print(f"run_local: otelctx stopped (exit status {status})", flush=True)
            problems, excerpt = markers.log_problems(srv.log_lines)
            print(f"run_local: server log: {problems} warnings/errors", flush=True)
            for line in excerpt:
                print("  " + line)
            if status != 0:
                print(srv.log_tail(), end="")
            return code
    except ServerError as exc:
        print(f"run_local: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        opts = parse_args(args)  # validate before starting anything
    except UsageError as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(external(args, opts) if _has_flag(args, "--endpoint") else local(args, opts))


if __name__ == "__main__":
    main()
