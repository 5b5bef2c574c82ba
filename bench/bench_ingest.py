"""Ingest throughput into SQLite: one otelctx process, the load generator in another.

Starts ``otelctx serve`` on a fresh SQLite file, then drives OTLP/gRPC export requests
(protobuf, 512 spans each, ~10 attributes per span, unique trace ids) from a separate
process with several concurrent connections for a fixed time. Prints acknowledged
spans/s, the server's event-loop lag (from its own histogram) and the server's CPU.

    .venv/bin/python bench/bench_ingest.py [--seconds 30] [--connections 8] [--protocol grpc|http]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

SALT = b"\xa5SALT\x5a\xc3\x3c"  # 8 bytes, replaced per request to make trace ids unique
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _kv(key: str, **value: object) -> common_pb2.KeyValue:
    return common_pb2.KeyValue(key=key, value=common_pb2.AnyValue(**value))  # type: ignore[arg-type]


def template(service: str, spans_per_request: int = 512) -> bytes:
    now = time.time_ns()
    spans = []
    for i in range(spans_per_request):
        trace_id = SALT + (i // 4).to_bytes(8, "big")  # 4 spans per trace
        spans.append(
            trace_pb2.Span(
                trace_id=trace_id,
                span_id=(i + 1).to_bytes(8, "big"),
                parent_span_id=b"" if i % 4 == 0 else ((i // 4) * 4 + 1).to_bytes(8, "big"),
                name=f"GET /api/v1/items/{i % 5}",
                kind=trace_pb2.Span.SPAN_KIND_SERVER,
                start_time_unix_nano=now + i * 1000,
                end_time_unix_nano=now + i * 1000 + 5_000_000 + (i % 100) * 1_000_000,
                attributes=[
                    _kv("http.method", string_value="GET"),
                    _kv("http.route", string_value="/api/v1/items/{id}"),
                    _kv("http.status_code", int_value=200 if i % 20 else 500),
                    _kv("net.peer.ip", string_value="10.1.2.3"),
                    _kv("user.id", int_value=i * 7919),
                    _kv("cache.hit", bool_value=bool(i % 2)),
                    _kv("db.rows", int_value=i % 50),
                    _kv("ratio", double_value=i / 7),
                    _kv("region", string_value="eu-west-1"),
                    _kv("thread.name", string_value="worker-3"),
                ],
                status=trace_pb2.Status(code=2 if i % 20 == 0 else 0,
                                        message="boom" if i % 20 == 0 else ""),
            )
        )  # fmt: skip
    req = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource_pb2.Resource(attributes=[
                    _kv("service.name", string_value=service),
                    _kv("service.version", string_value="1.2.3"),
                    _kv("host.name", string_value="node-17"),
                ]),
                scope_spans=[trace_pb2.ScopeSpans(
                    scope=common_pb2.InstrumentationScope(name="bench", version="1"),
                    spans=spans)],
            )
        ]
    )  # fmt: skip
    return req.SerializeToString()


def _connection(
    protocol: str,
    target: str,
    idx: int,
    measure_from: float,
    end: float,
    batch: int,
    interval: float,
) -> tuple[int, int, list[float]]:
    """One client connection exporting until ``end``: back to back, or one request per
    ``interval`` seconds (like an SDK's batch processor) when ``interval`` > 0."""
    import grpc

    body = template(f"bench-svc-{idx:03d}", batch)
    next_at = time.monotonic() + (idx % 100) / 100 * interval
    acked = refused = 0
    lat: list[float] = []
    channel = grpc.insecure_channel(target) if protocol == "grpc" else None
    export = (
        channel.unary_unary(EXPORT, request_serializer=lambda b: b,
                            response_deserializer=lambda b: b)
        if channel else None
    )  # fmt: skip
    n = 0
    while (now := time.monotonic()) < end:
        if interval > 0:
            if now < next_at:
                time.sleep(min(next_at - now, end - now))
                continue
            next_at += interval
        n += 1
        salt = idx.to_bytes(2, "big") + os.getpid().to_bytes(3, "big") + n.to_bytes(3, "big")
        req = body.replace(SALT, salt)
        t0 = time.monotonic()
        ok = True
        try:
            if export is not None:
                export(req, timeout=30)
            else:
                r = urllib.request.Request(
                    target,
                    data=req,
                    method="POST",
                    headers={"Content-Type": "application/x-protobuf"},
                )
                with urllib.request.urlopen(r, timeout=30) as resp:
                    resp.read()
        except Exception:
            ok = False
            time.sleep(0.05)
        if now >= measure_from:
            if ok:
                acked += batch
                lat.append(time.monotonic() - t0)
            else:
                refused += 1
    if channel is not None:
        channel.close()
    return acked, refused, lat


def _loadgen(
    protocol: str,
    target: str,
    connections: int,
    seconds: float,
    warmup: float,
    batch: int,
    interval: float,
    q: Any,
) -> None:
    """The load generator process: one thread per connection (grpcio releases the GIL)."""
    start = time.monotonic()
    results: list[tuple[int, int, list[float]]] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        r = _connection(protocol, target, i, start + warmup, start + warmup + seconds, batch,
                        interval)  # fmt: skip
        with lock:
            results.append(r)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    q.put(results)


def _scrape(base: str) -> str:
    with urllib.request.urlopen(base + "/metrics/prometheus", timeout=10) as resp:
        return resp.read().decode()


def _lag(text: str) -> dict[str, float]:
    buckets = {}
    count = 0.0
    for line in text.splitlines():
        m = re.match(r'otelcontext_event_loop_lag_seconds_bucket\{le="([^"]+)"\} (\S+)', line)
        if m:
            buckets[float(m.group(1))] = float(m.group(2))
        if line.startswith("otelcontext_event_loop_lag_seconds_count"):
            count = float(line.split()[1])
    return {"count": count, **{str(k): v for k, v in buckets.items()}}


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _named_cpu_seconds(names: tuple[str, ...]) -> float:
    """CPU of every process whose command name is one of ``names`` (the database server)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        if comm in names:
            fields = text.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


_DB_PROCESSES = {"postgres": ("postgres",), "mysql": ("mariadbd", "mysqld")}


def _children_cpu_seconds(pid: int) -> float:
    """CPU of the live child processes of ``pid`` (otelctx's decode workers)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--connections", type=int, default=24)
    ap.add_argument("--protocol", choices=["grpc", "http"], default="grpc")
    ap.add_argument(
        "--driver",
        choices=["sqlite", "postgres", "mysql"],
        default="sqlite",
        help="storage backend (postgres/mysql: the test servers of tests/backends.py,"
        " tables dropped first)",
    )
    ap.add_argument("--batch", type=int, default=512, help="spans per export request")
    ap.add_argument(
        "--rate",
        type=float,
        default=0,
        help="total spans/s to offer, spread over the connections (0: back to back)",
    )
    args = ap.parse_args()

    from tests.conftest import start_server

    with tempfile.TemporaryDirectory() as tmp:
        srv = start_server(Path(tmp), driver=args.driver)
        target = srv.grpc_endpoint if args.protocol == "grpc" else srv.http_base + "/v1/traces"
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        interval = args.connections * args.batch / args.rate if args.rate else 0.0
        gen = ctx.Process(target=_loadgen, args=(args.protocol, target, args.connections,
                                                 args.seconds, args.warmup, args.batch,
                                                 interval, q))  # fmt: skip
        gen.start()
        time.sleep(args.warmup)
        lag0 = _lag(_scrape(srv.http_base))
        cpu0 = _cpu_seconds(srv.proc.pid)
        workers0 = _children_cpu_seconds(srv.proc.pid)
        db0 = _named_cpu_seconds(_DB_PROCESSES.get(args.driver, ()))
        gen_cpu0 = _cpu_seconds(gen.pid)  # type: ignore[arg-type]
        time.sleep(args.seconds)
        cpu1 = _cpu_seconds(srv.proc.pid)
        workers1 = _children_cpu_seconds(srv.proc.pid)
        db1 = _named_cpu_seconds(_DB_PROCESSES.get(args.driver, ()))
        gen_cpu1 = _cpu_seconds(gen.pid)  # type: ignore[arg-type]
        lag1 = _lag(_scrape(srv.http_base))
        results = q.get(timeout=120)
        gen.join()
        srv.stop()
    acked = sum(r[0] for r in results)
    refused = sum(r[1] for r in results)
    lat = sorted(x for r in results for x in r[2])
    samples = lag1["count"] - lag0["count"]
    under = {k: lag1[k] - lag0.get(k, 0) for k in lag1 if k != "count"}
    frac_50 = under.get("0.05", 0) / samples if samples else float("nan")
    worst = min((float(k) for k, v in under.items() if v >= samples), default=float("inf"))
    offered = f"{args.rate:,.0f} spans/s offered" if args.rate else "back to back"
    print(f"driver={args.driver} protocol={args.protocol} connections={args.connections} "
          f"batch={args.batch} {offered} seconds={args.seconds}")  # fmt: skip
    print(f"spans/s acknowledged : {acked / args.seconds:,.0f}")
    print(f"refused requests     : {refused}")
    if lat:
        print(f"export latency p50/p99: {lat[len(lat) // 2] * 1000:.1f} ms / "
              f"{lat[int(len(lat) * 0.99)] * 1000:.1f} ms")  # fmt: skip
    print(f"server CPU           : {(cpu1 - cpu0) / args.seconds:.2f} cores + decode workers "
          f"{(workers1 - workers0) / args.seconds:.2f} "
          f"(load generator: {(gen_cpu1 - gen_cpu0) / args.seconds:.2f})")  # fmt: skip
    if args.driver != "sqlite":
        print(f"database server CPU  : {(db1 - db0) / args.seconds:.2f} cores")
    print(f"event-loop lag       : {frac_50:.1%} of {samples:.0f} samples <= 50 ms; "
          f"all <= {worst * 1000:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
