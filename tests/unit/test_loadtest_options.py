"""Command-line flags of the simulator: defaults, endpoints, ranges."""

from __future__ import annotations

import pytest

from loadtest.options import Endpoint, Protocol, UsageError, parse_args, parse_duration


def test_defaults_are_the_missions_load() -> None:
    o = parse_args([])
    assert (o.services, o.rate, o.duration_s, o.warmup_s, o.batch_interval_s) == (
        200, 50.0, 60.0, 5.0, 1.0,
    )  # fmt: skip
    assert o.protocol is Protocol.GRPC
    assert o.endpoint == Endpoint("127.0.0.1", 4317, tls=True)  # TLS unless --insecure
    assert o.api_endpoint == Endpoint("127.0.0.1", 8080, tls=False)
    assert (o.tenant_id, o.api_key, o.verify) == (None, None, False)
    assert (o.logs_per_span, o.metrics_interval_s) == (0, 0.0)
    assert (o.max_retry_s, o.export_timeout_s, o.verify_timeout_s) == (30.0, 10.0, 60.0)


def test_grpc_endpoints_are_host_port_and_tls_follows_insecure_or_the_scheme() -> None:
    o = parse_args(["--endpoint", "otel.example:4317", "--insecure"])
    assert o.endpoint == Endpoint("otel.example", 4317, tls=False)
    assert o.api_endpoint == Endpoint("otel.example", 8080, tls=False)
    assert parse_args(["--endpoint", "http://h:1"]).endpoint == Endpoint("h", 1, tls=False)
    assert parse_args(["--endpoint", "https://h"]).endpoint == Endpoint("h", 4317, tls=True)
    assert parse_args(["--endpoint", "[::1]:9", "--insecure"]).endpoint.authority == "[::1]:9"


def test_http_endpoints_are_base_urls_and_the_api_defaults_to_them() -> None:
    o = parse_args(["--protocol", "http", "--endpoint", "https://otel.example/base/"])
    assert o.endpoint == Endpoint("otel.example", 443, tls=True, base_path="/base")
    assert o.api_endpoint == o.endpoint
    o = parse_args(["--protocol", "http", "--api-endpoint", "http://api:9000"])
    assert o.endpoint == Endpoint("127.0.0.1", 8080, tls=False)
    assert o.api_endpoint == Endpoint("api", 9000, tls=False)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("60", 60.0), ("60s", 60.0), ("1.5s", 1.5), ("500ms", 0.5), ("2m", 120.0), ("1h", 3600.0),
     (" 5S ", 5.0), ("0", 0.0)],
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "s", "abc", "-1s", "1d", "nan", "inf"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--services", "0"], "--services"),
        (["--services", "10001"], "--services"),
        (["--rate", "0"], "--rate"),
        (["--rate", "nan"], "--rate"),
        (["--duration", "0"], "--duration"),
        (["--duration", "forever"], "--duration"),
        (["--batch-interval", "0"], "--batch-interval"),
        (["--logs-per-span", "-1"], "--logs-per-span"),
        (["--metrics-interval", "10ms"], "--metrics-interval"),
        (["--endpoint", "ftp://x"], "--endpoint"),
        (["--endpoint", "h:notaport"], "--endpoint"),
        (["--api-endpoint", "://"], "--api-endpoint"),
        (["--tenant-id", " "], "--tenant-id"),
        (["--api-key", "a\nb"], "--api-key"),
    ],
)
def test_bad_values_name_the_flag(argv: list[str], flag: str) -> None:
    with pytest.raises(UsageError, match=f"^{flag}"):
        parse_args(argv)
