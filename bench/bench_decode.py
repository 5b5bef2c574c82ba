"""OTLP trace decoding: protobuf (upb) vs betterproto2 vs betterproto, spans/s on one core.

Backs the "Stack" section of DESIGN.md. Each implementation does the same work on the
same bytes: parse one serialized 512-span ``ExportTraceServiceRequest`` and turn every
span into an ``otelctx.model.SpanRecord`` (hex ids, service name from the resource,
name, kind, times, status, attribute/resource/scope dicts, events, links).

Implementations:

- ``upb (otelctx decoder)``: the project's real ``otelctx.otlp.decode.decode_traces``.
- ``upb (inline)``: the extractor below over the ``opentelemetry-proto`` ``_pb2`` classes,
  a reference that does not move when the real decoder grows features.
- ``betterproto2`` / ``betterproto``: the same extractor over classes generated at run
  time into ``bench/.cache/`` by ``_gen_betterproto.py``.

Single process, single thread, GC left on as in production. Every repeat runs the
decoder enough times to last ``--min-time`` seconds; best and median of the repeats are
reported. Before timing, all implementations must produce identical rows.

Run: ``.venv/bin/python bench/bench_decode.py`` (``--quick`` for a short run).
"""

from __future__ import annotations

import argparse
import base64
import gc
import importlib.metadata
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import _gen_betterproto as gen  # noqa: E402
from google.protobuf.internal import api_implementation  # noqa: E402
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2  # noqa: E402
from opentelemetry.proto.common.v1 import common_pb2  # noqa: E402
from opentelemetry.proto.trace.v1 import trace_pb2  # noqa: E402

from otelctx.model import Scope, SpanEvent, SpanKind, SpanLink, SpanRecord, StatusCode  # noqa: E402

RESOURCES = 4
SPANS_PER_RESOURCE = 128
SPANS_PER_TRACE = 16
TENANT = "default"
SEED = 20240611

Decoder = Callable[[bytes], list[SpanRecord]]


@dataclass(frozen=True, slots=True)
class Impl:
    label: str
    version: str
    decode: Decoder
    parse: Callable[[bytes], object] | None = None
    """Parse only, no extraction: shows where the time goes."""


@dataclass(frozen=True, slots=True)
class Result:
    impl: Impl
    best: float
    median: float
    parse_best: float | None


# --------------------------------------------------------------------------- workload


def build_request() -> trace_service_pb2.ExportTraceServiceRequest:
    """A deterministic request: 4 resources x 128 spans, typical instrumentation shapes."""
    rng = random.Random(SEED)
    names = [
        "GET /api/orders",
        "SELECT orders",
        "redis GET",
        "publish order.created",
        "POST /api/checkout",
        "render template",
        "HTTP GET",
        "process message",
    ]
    routes = ["/api/orders", "/api/orders/{id}", "/api/checkout", "/healthz"]
    methods = ["GET", "POST", "PUT", "DELETE"]
    base_ns = 1_700_000_000_000_000_000
    req = trace_service_pb2.ExportTraceServiceRequest()
    for r in range(RESOURCES):
        rs = req.resource_spans.add()
        _put_attrs(
            rs.resource,
            {
                "service.name": f"svc-{r}",
                "service.version": f"1.{r}.0",
                "service.instance.id": f"instance-{r:04d}",
                "host.name": f"host-{r % 2}",
                "telemetry.sdk.language": "python",
                "process.pid": 4000 + r,
            },
        )
        ss = rs.scope_spans.add()
        ss.scope.name = "otelctx.bench"
        ss.scope.version = "1.0.0"
        trace_id = b""
        root_id = b""
        for i in range(SPANS_PER_RESOURCE):
            span = ss.spans.add()
            if i % SPANS_PER_TRACE == 0:
                trace_id = rng.randbytes(16)
                root_id = b""
            span.trace_id = trace_id
            span.span_id = rng.randbytes(8)
            if root_id:
                span.parent_span_id = root_id
            else:
                root_id = span.span_id
            span.name = names[i % len(names)]
            span.kind = trace_pb2.Span.SpanKind.ValueType(1 + i % 5)
            span.start_time_unix_nano = base_ns + (r * SPANS_PER_RESOURCE + i) * 1_000_000
            span.end_time_unix_nano = span.start_time_unix_nano + rng.randrange(10_000, 50_000_000)
            if i % 8 == 7:
                span.status.code = trace_pb2.Status.STATUS_CODE_ERROR
                span.status.message = f"upstream returned {500 + i % 4}"
            elif i % 5 == 0:
                span.status.code = trace_pb2.Status.STATUS_CODE_OK
            _put_attrs(
                span,
                {
                    "http.request.method": methods[i % len(methods)],
                    "http.route": routes[i % len(routes)],
                    "url.full": f"https://shop.example/api/orders/{rng.randrange(10**6)}",
                    "http.response.status_code": 200 if i % 8 != 7 else 503,
                    "server.port": 8080,
                    "db.response.returned_rows": rng.randrange(1000),
                    "load.ratio": rng.random(),
                    "cache.hit": i % 3 == 0,
                    "retry": i % 7 == 0,
                    "enduser.id": f"user-{rng.randrange(5000)}",
                },
            )
            if i % 4 == 3:
                ev = span.events.add()
                ev.name = "exception"
                ev.time_unix_nano = span.start_time_unix_nano + 1_000
                _put_attrs(ev, {"exception.type": "TimeoutError", "exception.escaped": False})
    return req


def _put_attrs(msg: Any, attrs: dict[str, str | int | float | bool]) -> None:
    for key, value in attrs.items():
        kv = msg.attributes.add()
        kv.key = key
        if isinstance(value, bool):
            kv.value.bool_value = value
        elif isinstance(value, int):
            kv.value.int_value = value
        elif isinstance(value, float):
            kv.value.double_value = value
        else:
            kv.value.string_value = value


# --------------------------------------------------------------------------- upb inline


def _service_name(resource: dict[str, Any]) -> str:
    name = resource.get("service.name")
    return name if isinstance(name, str) and name else "unknown_service"


def _upb_value(v: common_pb2.AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_upb_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _upb_value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode("ascii")
    return getattr(v, which)


def _upb_attrs(kvs: Iterable[common_pb2.KeyValue]) -> dict[str, Any]:
    return {kv.key: _upb_value(kv.value) for kv in kvs}


def decode_upb_inline(body: bytes) -> list[SpanRecord]:
    req = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
    rows: list[SpanRecord] = []
    for rs in req.resource_spans:
        resource = _upb_attrs(rs.resource.attributes)
        service = _service_name(resource)
        for ss in rs.scope_spans:
            sc = ss.scope
            scope = Scope(sc.name, sc.version, _upb_attrs(sc.attributes))
            for s in ss.spans:
                rows.append(
                    SpanRecord(
                        tenant_id=TENANT,
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_span_id=s.parent_span_id.hex(),
                        service_name=service,
                        name=s.name,
                        kind=SpanKind(s.kind),
                        start_time_unix_nano=s.start_time_unix_nano,
                        end_time_unix_nano=s.end_time_unix_nano,
                        status_code=StatusCode(s.status.code),
                        status_message=s.status.message,
                        trace_state=s.trace_state,
                        attributes=_upb_attrs(s.attributes),
                        resource=resource,
                        scope=scope,
                        events=tuple(
                            SpanEvent(e.time_unix_nano, e.name, _upb_attrs(e.attributes))
                            for e in s.events
                        ),
                        links=tuple(
                            SpanLink(
                                lk.trace_id.hex(),
                                lk.span_id.hex(),
                                lk.trace_state,
                                _upb_attrs(lk.attributes),
                            )
                            for lk in s.links
                        ),
                    )
                )
    return rows


# --------------------------------------------------------------------------- betterproto*


def make_dataclass_decoder(
    parse: Callable[[bytes], Any], which_one_of: Callable[[Any, str], tuple[str, Any]]
) -> Decoder:
    """The inline extractor over betterproto-style dataclass messages (both generations)."""

    def value(v: Any) -> Any:
        which, inner = which_one_of(v, "value")
        if not which:
            return None
        if which == "array_value":
            return [value(x) for x in inner.values]
        if which == "kvlist_value":
            return {kv.key: value(kv.value) for kv in inner.values}
        if which == "bytes_value":
            return base64.b64encode(inner).decode("ascii")
        return inner

    def attrs(kvs: Iterable[Any]) -> dict[str, Any]:
        return {kv.key: value(kv.value) for kv in kvs}

    def decode(body: bytes) -> list[SpanRecord]:
        req = parse(body)
        rows: list[SpanRecord] = []
        for rs in req.resource_spans:
            resource = attrs(rs.resource.attributes) if rs.resource is not None else {}
            service = _service_name(resource)
            for ss in rs.scope_spans:
                sc = ss.scope
                scope = (
                    Scope(sc.name, sc.version, attrs(sc.attributes)) if sc is not None else Scope()
                )
                for s in ss.spans:
                    st = s.status
                    rows.append(
                        SpanRecord(
                            tenant_id=TENANT,
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_span_id=s.parent_span_id.hex(),
                            service_name=service,
                            name=s.name,
                            kind=SpanKind(int(s.kind)),
                            start_time_unix_nano=s.start_time_unix_nano,
                            end_time_unix_nano=s.end_time_unix_nano,
                            status_code=StatusCode(int(st.code))
                            if st is not None
                            else StatusCode.UNSET,
                            status_message=st.message if st is not None else "",
                            trace_state=s.trace_state,
                            attributes=attrs(s.attributes),
                            resource=resource,
                            scope=scope,
                            events=tuple(
                                SpanEvent(e.time_unix_nano, e.name, attrs(e.attributes))
                                for e in s.events
                            ),
                            links=tuple(
                                SpanLink(
                                    lk.trace_id.hex(),
                                    lk.span_id.hex(),
                                    lk.trace_state,
                                    attrs(lk.attributes),
                                )
                                for lk in s.links
                            ),
                        )
                    )
        return rows

    return decode


def betterproto2_impl() -> Impl:
    import betterproto2

    collector, _, _ = gen.load_trace_modules(gen.BETTERPROTO2)
    parse = collector.ExportTraceServiceRequest.parse
    versions = ", ".join(
        f"{d} {v}" for d, v in gen.versions(gen.BETTERPROTO2).items() if d != "opentelemetry-proto"
    )
    return Impl(
        "betterproto2", versions, make_dataclass_decoder(parse, betterproto2.which_one_of), parse
    )


def betterproto_impl() -> Impl:
    import betterproto

    collector, _, _ = gen.load_trace_modules(gen.BETTERPROTO)
    request_cls = collector.ExportTraceServiceRequest

    def parse(body: bytes) -> Any:
        return request_cls().parse(body)

    return Impl(
        "betterproto",
        f"betterproto {_version('betterproto')}",
        make_dataclass_decoder(parse, betterproto.which_one_of),
        parse,
    )


# --------------------------------------------------------------------------- otelctx


def otelctx_decoder() -> Decoder | None:
    """The project's real decoder, or None while ``otelctx/otlp/decode.py`` does not exist."""
    try:
        from otelctx.otlp.decode import Encoding, decode_traces
        from otelctx.otlp.policy import IngestPolicy
    except ImportError as exc:
        print(
            f"note: otelctx decoder unavailable ({exc}); reporting the inline upb only",
            file=sys.stderr,
        )
        return None
    policy = IngestPolicy(tenant=None)

    def decode(body: bytes) -> list[SpanRecord]:
        return decode_traces(body, Encoding.PROTOBUF, policy).records

    return decode


# --------------------------------------------------------------------------- harness


def _comparable(rec: SpanRecord) -> tuple[Any, ...]:
    # tenant_id depends on the ingest policy, not on decoding.
    return (
        rec.trace_id,
        rec.span_id,
        rec.parent_span_id,
        rec.service_name,
        rec.name,
        int(rec.kind),
        rec.start_time_unix_nano,
        rec.end_time_unix_nano,
        int(rec.status_code),
        rec.status_message,
        rec.trace_state,
        rec.attributes,
        rec.resource,
        (rec.scope.name, rec.scope.version, rec.scope.attributes),
        tuple((e.time_unix_nano, e.name, e.attributes) for e in rec.events),
        tuple((lk.trace_id, lk.span_id, lk.trace_state, lk.attributes) for lk in rec.links),
    )


def check_same_rows(impls: list[Impl], body: bytes, n_spans: int) -> None:
    reference = [_comparable(r) for r in impls[0].decode(body)]
    if len(reference) != n_spans:
        raise SystemExit(f"{impls[0].label}: {len(reference)} rows, expected {n_spans}")
    for impl in impls[1:]:
        rows = [_comparable(r) for r in impl.decode(body)]
        if rows != reference:
            bad = next(
                (i for i, (a, b) in enumerate(zip(rows, reference, strict=False)) if a != b),
                min(len(rows), len(reference)),
            )
            raise SystemExit(
                f"{impl.label} disagrees with {impls[0].label} at row {bad} "
                f"({len(rows)} vs {len(reference)} rows):\n"
                f"  {rows[bad] if bad < len(rows) else None}\n"
                f"  {reference[bad] if bad < len(reference) else None}"
            )


def _calls_per_repeat(fn: Callable[[bytes], object], body: bytes, min_time: float) -> int:
    fn(body)  # warm-up: lazy imports, caches
    t0 = time.perf_counter()
    fn(body)
    return max(1, math.ceil(min_time / max(time.perf_counter() - t0, 1e-9)))


def _one_repeat(fn: Callable[[bytes], object], body: bytes, calls: int, n_spans: int) -> float:
    gc.collect()
    t0 = time.perf_counter()
    for _ in range(calls):
        fn(body)
    return calls * n_spans / (time.perf_counter() - t0)


def measure_all(
    impls: list[Impl], body: bytes, n_spans: int, repeats: int, min_time: float
) -> list[Result]:
    """Best and median spans/s of every implementation (and of its parse step alone).

    Repeats are interleaved round-robin across implementations: on a shared machine the
    CPU speed drifts by tens of percent over seconds, and interleaving makes every
    implementation see the same drift, which keeps the ratios honest.
    """
    plan: list[tuple[int, bool, Callable[[bytes], object]]] = []
    for i, impl in enumerate(impls):
        plan.append((i, False, impl.decode))
        if impl.parse is not None:
            plan.append((i, True, impl.parse))
    calls = [_calls_per_repeat(fn, body, min_time) for _, _, fn in plan]
    rates: list[list[float]] = [[] for _ in plan]
    for rep in range(repeats):
        for k, (_, _, fn) in enumerate(plan):
            rates[k].append(_one_repeat(fn, body, calls[k], n_spans))
        print(f"  repeat {rep + 1}/{repeats} done", file=sys.stderr, flush=True)

    decode_rates = {i: rates[k] for k, (i, parse, _) in enumerate(plan) if not parse}
    parse_best = {i: max(rates[k]) for k, (i, parse, _) in enumerate(plan) if parse}
    return [
        Result(impl, max(decode_rates[i]), statistics.median(decode_rates[i]), parse_best.get(i))
        for i, impl in enumerate(impls)
    ]


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="3 repeats of >=0.2 s (smoke run)")
    ap.add_argument("--repeats", type=int, default=None, help="repeats per implementation (7)")
    ap.add_argument("--min-time", type=float, default=None, help="seconds per repeat (1.0)")
    ap.add_argument("--cpu", type=int, default=None, help="pin the process to this CPU")
    args = ap.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    min_time = args.min_time or (0.2 if args.quick else 1.0)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})

    if api_implementation.Type() != "upb":
        print(
            f"warning: protobuf backend is {api_implementation.Type()!r}, not upb", file=sys.stderr
        )

    request = build_request()
    body = request.SerializeToString()
    n_spans = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)

    pb = f"protobuf {_version('protobuf')} ({api_implementation.Type()})"
    impls: list[Impl] = []
    real = otelctx_decoder()
    if real is not None:
        impls.append(Impl("upb (otelctx decoder)", pb, real))
    impls += [
        Impl(
            "upb (inline)",
            pb,
            decode_upb_inline,
            trace_service_pb2.ExportTraceServiceRequest.FromString,
        ),
        betterproto2_impl(),
        betterproto_impl(),
    ]
    check_same_rows(impls, body, n_spans)

    print(f"# OTLP trace decode + row extraction, {n_spans} spans/request ({len(body):,} bytes)\n")
    print(
        f"Python {platform.python_version()}, {_cpu_model()}, {os.cpu_count()} CPUs, "
        f"single thread; {repeats} interleaved repeats of >= {min_time:g} s each; "
        f"opentelemetry-proto {_version('opentelemetry-proto')}\n",
        flush=True,
    )

    print(render_table(measure_all(impls, body, n_spans, repeats, min_time)))
    return 0


def render_table(results: list[Result]) -> str:
    """Markdown table; ratios are against the first row (the otelctx decoder if present)."""
    ref = results[0]
    head = [
        "implementation",
        "version",
        "best spans/s",
        "median spans/s",
        "parse only, best spans/s",
        f"{ref.impl.label} / this, best",
        "median",
    ]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---", "---", *["---:"] * (len(head) - 2)]) + "|",
    ]
    for r in results:
        cells = [
            r.impl.label,
            r.impl.version,
            f"{r.best:,.0f}",
            f"{r.median:,.0f}",
            f"{r.parse_best:,.0f}" if r.parse_best is not None else "-",
            f"{ref.best / r.best:,.1f}x",
            f"{ref.median / r.median:,.1f}x",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
