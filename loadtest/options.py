"""Command-line options of the simulator, parsed and validated into ``Options``.

``parse_args(argv)`` returns ``Options`` or raises ``UsageError`` with a one-line message
that names the flag and its allowed range (``main`` prints it and exits 2, like otelctx's
configuration errors). Durations accept ``60``, ``60s``, ``500ms``, ``2m``.
"""

from __future__ import annotations

import argparse
import enum
import math
from dataclasses import dataclass
from urllib.parse import urlsplit


class Protocol(enum.Enum):
    GRPC = "grpc"
    HTTP = "http"


class UsageError(Exception):
    """A flag has a value outside its range; the message says which and what is allowed."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where to connect: host, port and whether TLS is used."""

    host: str
    port: int
    tls: bool
    base_path: str = ""

    @property
    def authority(self) -> str:
        return f"{self.host}:{self.port}" if ":" not in self.host else f"[{self.host}]:{self.port}"


@dataclass(frozen=True, slots=True)
class Options:
    protocol: Protocol
    endpoint: Endpoint
    api_endpoint: Endpoint
    insecure: bool
    services: int
    rate: float
    duration_s: float
    warmup_s: float
    batch_interval_s: float
    tenant_id: str | None
    api_key: str | None
    logs_per_span: int
    metrics_interval_s: float
    seed: int
    verify: bool
    verify_timeout_s: float
    export_timeout_s: float
    max_retry_s: float
    progress_interval_s: float


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds from ``60``, ``1.5s``, ``500ms``, ``2m``, ``1h``; ``ValueError`` otherwise."""
    raw = text.strip().lower()
    for unit in ("ms", "s", "m", "h"):
        if raw.endswith(unit):
            number, scale = raw[: -len(unit)], _UNITS[unit]
            break
    else:
        number, scale = raw, 1.0
    value = float(number) * scale
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"not a duration: {text!r}")
    return value


def parse_endpoint(text: str, *, default_port: int | None, tls: bool) -> Endpoint:
    """``host:port`` or ``http(s)://host:port[/base]``; a scheme decides TLS. Without a
    port: ``default_port``, or the scheme's (80, 443) when that is None."""
    raw = text.strip()
    if "://" not in raw:
        raw = ("https://" if tls else "http://") + raw
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an endpoint: {text!r} (use host:port or http://host:port)")
    try:
        port = parts.port or default_port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValueError(f"bad port in endpoint {text!r}") from None
    return Endpoint(parts.hostname, port, parts.scheme == "https", parts.path.rstrip("/"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m loadtest",
        description="Simulate OTLP-instrumented services against otelctx and count what is"
        " acknowledged (and, with --verify, what was stored).",
    )
    add = p.add_argument
    add("--protocol", choices=[x.value for x in Protocol], default="grpc")
    add("--endpoint", help="gRPC: host:port (default 127.0.0.1:4317); HTTP: base URL"
        " (default http://127.0.0.1:8080)")  # fmt: skip
    add("--api-endpoint", help="base URL of otelctx's HTTP API for --verify (default: the"
        " HTTP endpoint, or port 8080 on the gRPC endpoint's host)")  # fmt: skip
    add("--insecure", action="store_true",
        help="gRPC without TLS; HTTPS without certificate checks")  # fmt: skip
    add("--services", type=int, default=200, help="simulated services, 1..10000 (200)")
    add("--rate", type=float, default=50.0, help="spans/s per service, >0..100000 (50)")
    add("--duration", default="60s", help="how long each service sends (60s)")
    add("--warmup", default="5s", help="services start one after the other over this (5s)")
    add("--batch-interval", default="1s", help="export interval of each service (1s)")
    add("--tenant-id", help="sent as x-tenant-id / X-Tenant-ID")
    add("--api-key", help="sent as authorization: Bearer <key>")
    add("--logs-per-span", type=int, default=0, help="log records per span, 0..100 (0)")
    add("--metrics-interval", default="0", help="metrics export interval per service (0: off)")
    add("--seed", type=int, default=1, help="seed of the span shapes (ids are unique per run)")
    add(
        "--verify",
        action="store_true",
        help="after the run, wait until every acknowledged span is stored; print lost=N",
    )
    add("--verify-timeout", default="60s", help="longest wait of --verify (60s)")
    add("--timeout", default="10s", help="per export attempt (10s)")
    add(
        "--max-retry-time",
        default="30s",
        help="retryable failures are retried until this has passed, then count as permanent",
    )
    add("--progress-interval", default="5s", help="progress line rhythm (5s)")
    return p


def _seconds(flag: str, text: str, low: float, high: float) -> float:
    try:
        value = parse_duration(text)
    except ValueError:
        raise UsageError(f"{flag}: {text!r} is not a duration (e.g. 60s, 500ms, 2m)") from None
    if not low <= value <= high:
        raise UsageError(f"{flag}: {text!r} is outside {low:g}s..{high:g}s")
    return value


def _int_range(flag: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise UsageError(f"{flag}: {value} is outside {low}..{high}")
    return value


def parse_args(argv: list[str] | None = None) -> Options:
    ns = build_parser().parse_args(argv)
    protocol = Protocol(ns.protocol)
    tls_default = not ns.insecure if protocol is Protocol.GRPC else False
    try:
        if protocol is Protocol.GRPC:
            endpoint = parse_endpoint(ns.endpoint or "127.0.0.1:4317", default_port=4317,
                                      tls=tls_default)  # fmt: skip
        else:
            endpoint = parse_endpoint(ns.endpoint or "http://127.0.0.1:8080", default_port=None,
                                      tls=False)  # fmt: skip
    except ValueError as exc:
        raise UsageError(f"--endpoint: {exc}") from None
    try:
        if ns.api_endpoint:
            api = parse_endpoint(ns.api_endpoint, default_port=None, tls=False)
        elif protocol is Protocol.HTTP:
            api = endpoint
        else:
            api = Endpoint(endpoint.host, 8080, False)
    except ValueError as exc:
        raise UsageError(f"--api-endpoint: {exc}") from None
    if not (0 < ns.rate <= 100_000 and math.isfinite(ns.rate)):
        raise UsageError(f"--rate: {ns.rate} is outside >0..100000 spans/s")
    metrics_interval = _seconds("--metrics-interval", ns.metrics_interval, 0, 3600)
    if 0 < metrics_interval < 0.1:
        raise UsageError("--metrics-interval: use 0 (off) or at least 100ms")
    for flag, text in (("--tenant-id", ns.tenant_id), ("--api-key", ns.api_key)):
        if text is not None and (not text.strip() or any(ord(c) < 32 for c in text)):
            raise UsageError(f"{flag}: must be non-empty without control characters")
    return Options(
        protocol=protocol,
        endpoint=endpoint,
        api_endpoint=api,
        insecure=ns.insecure,
        services=_int_range("--services", ns.services, 1, 10_000),
        rate=ns.rate,
        duration_s=_seconds("--duration", ns.duration, 0.1, 86_400),
        warmup_s=_seconds("--warmup", ns.warmup, 0, 3600),
        batch_interval_s=_seconds("--batch-interval", ns.batch_interval, 0.01, 60),
        tenant_id=ns.tenant_id,
        api_key=ns.api_key,
        logs_per_span=_int_range("--logs-per-span", ns.logs_per_span, 0, 100),
        metrics_interval_s=metrics_interval,
        seed=ns.seed,
        verify=ns.verify,
        verify_timeout_s=_seconds("--verify-timeout", ns.verify_timeout, 0, 3600),
        export_timeout_s=_seconds("--timeout", ns.timeout, 0.1, 600),
        max_retry_s=_seconds("--max-retry-time", ns.max_retry_time, 0, 3600),
        progress_interval_s=_seconds("--progress-interval", ns.progress_interval, 0.1, 3600),
    )
