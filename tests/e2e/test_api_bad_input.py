"""Hostile and malformed query input, on every backend: always a clear 400 or an empty
answer, never a 500, never another tenant's data.

Test rules: one ``otelctx serve`` per backend for the module (localhost, port 0);
tenant ``victim`` holds one trace, log and metric sent with the real OTel SDK;
requests come as tenant ``attacker`` (or ``victim`` where the point is that a
metacharacter must not act as a wildcard on the victim's own data).
"""

from __future__ import annotations

import socket
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from tests import backends
from tests.conftest import ServerProcess, start_server
from tests.e2e.sdk_scenario import SECOND, Scenario, call, export_checkout, ok, refused

pytestmark = pytest.mark.timeout(300)

METACHARACTERS = [
    "'", '"', "%", "_", ";", "\\", "--", "/*", "*", "?", "$1", ":name", "`", "[", "]", "^",
    "' OR '1'='1", "\" OR \"1\"=\"1", "%' OR 1=1 --", "frontend' --", "frontend%",
    "'; DROP TABLE spans; --", "1); DELETE FROM logs; --", "\\'", "\\%", "%%", "_%_",
    "' UNION SELECT tenant_id FROM traces --", "order%", "Order 1", "\u00e9\u00e8", "\ufffd",
    "x" * 1024, "$.attr", "{\"a\": 1}", "NULL", "true",
]  # fmt: skip

# (route, parameters needed, the string parameters it takes)
STRING_PARAMS = [
    ("/api/traces", {}, ["service_name", "operation", "attr.http.route", "attr.'; --"]),
    ("/api/logs", {}, ["service_name", "search"]),
    ("/api/metrics", {"name": "queue.depth"}, ["name", "service_name"]),
    ("/api/metadata/metrics", {}, ["service_name"]),
    ("/api/metrics/traffic", {}, ["service_name"]),
    ("/api/metrics/latency_heatmap", {}, ["service_name"]),
    ("/api/metrics/dashboard", {}, ["service_name"]),
]
TIME_ROUTES = [
    ("/api/traces", {}), ("/api/logs", {}), ("/api/metrics", {"name": "m"}),
    ("/api/metrics/traffic", {}), ("/api/metrics/latency_heatmap", {}),
    ("/api/metrics/dashboard", {}), ("/api/metrics/service-map", {}),
]  # fmt: skip
LIMITS = [
    ("/api/traces", {}, 1000), ("/api/logs", {}, 1000),
    ("/api/logs/context", {"timestamp": "0"}, 1000), ("/api/metrics/latency_heatmap", {}, 10000),
]  # fmt: skip
EVERY_ROUTE = [
    ("GET", "/api/traces", {}), ("GET", "/api/logs", {}),
    ("GET", "/api/logs/context", {"timestamp": "0"}), ("GET", "/api/metrics", {"name": "m"}),
    ("GET", "/api/metadata/services", {}), ("GET", "/api/metadata/metrics", {}),
    ("GET", "/api/metrics/traffic", {}), ("GET", "/api/metrics/latency_heatmap", {}),
    ("GET", "/api/metrics/dashboard", {}), ("GET", "/api/metrics/service-map", {}),
    ("GET", "/api/stats", {}), ("GET", "/api/health", {}), ("GET", "/api/openapi.json", {}),
    ("DELETE", "/api/admin/purge", {}), ("POST", "/api/admin/vacuum", {}),
    ("GET", "/api/traces/0af7651916cd43dd8448eb211c80319c", {}),
]  # fmt: skip


@pytest.fixture(scope="module", params=backends.BACKENDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, Scenario]]:
    backends.require(request.param)
    server = start_server(
        tmp_path_factory.mktemp("api-bad-input"), driver=request.param,
        env={"API_RATE_LIMIT_RPS": "0"},  # hundreds of requests from one address
    )
    try:
        yield server, export_checkout(server, "victim", (time.time_ns() // SECOND - 600) * SECOND)
    finally:
        server.stop()


@pytest.fixture
def srv(world: tuple[ServerProcess, Scenario]) -> ServerProcess:
    return world[0]


COUNTS = {"total", "total_traces", "total_logs", "total_errors", "active_services"}


def lists_of(body: dict[str, Any]) -> list[Any]:
    return [v for v in body.values() if isinstance(v, list)]


def test_limits_and_offsets(srv: ServerProcess) -> None:
    for path, base, high in LIMITS:
        for bad in ("-1", "0", str(high + 1), "9" * 40, "1e3", "10.0", "ten", "", " 5", "0x10"):
            message = refused(srv, path, {**base, "limit": bad}, tenant="attacker")
            assert message.startswith(f"limit: must be an integer in 1..{high}"), message
        assert ok(srv, path, {**base, "limit": high}, tenant="attacker")
    for path in ("/api/traces", "/api/logs"):
        for bad in ("-1", "1000001", "-99999999999", "1.5"):
            message = refused(srv, path, {"offset": bad}, tenant="attacker")
            assert message.startswith("offset: must be an integer in 0..1000000"), message
        assert ok(srv, path, {"offset": 1_000_000}, tenant="victim")[path.split("/")[-1]] == []


def test_bad_times(srv: ServerProcess) -> None:
    bad_times = ["yesterday", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z",
                 "2024-01-01T00:00:00", "2024-01-01", "-5", "1e18", "9" * 25,
                 "2024-01-01T00:00:00+25:00", "1714000000.5", "now"]  # fmt: skip
    for path, base in TIME_ROUTES:
        for name in ("start", "end"):
            for bad in bad_times:
                message = refused(srv, path, {**base, name: bad}, tenant="attacker")
                assert message.startswith(f"{name}: must be an RFC 3339 time"), message
        backwards = {**base, "start": "2024-01-02T00:00:00Z", "end": "2024-01-01T00:00:00Z"}
        message = refused(srv, path, backwards, tenant="attacker")
        assert "start: must not be after end" in message
    assert "timestamp" in refused(srv, "/api/logs/context", {"timestamp": "noon"})
    assert refused(srv, "/api/logs/context") == "missing parameter: timestamp"
    # the extremes of the range are fine, and clamped
    ok(srv, "/api/traces", {"start": "0001-01-01T00:00:00Z", "end": "9999-12-31T23:59:59Z"})


def test_unknown_values_of_choices(srv: ServerProcess) -> None:
    cases = [
        ("/api/traces", {"sort_by": "service_name"}, "sort_by: must be one of"),
        ("/api/traces", {"sort_by": "duration; DROP TABLE traces"}, "sort_by"),
        ("/api/traces", {"order": "sideways"}, "order: must be one of desc|asc"),
        ("/api/traces", {"status": "failed"}, "status: must be one of error|ok|unset"),
        ("/api/traces", {"min_duration_ms": "-5"}, "min_duration_ms"),
        ("/api/traces", {"max_duration_ms": "NaN"}, "max_duration_ms"),
        ("/api/logs", {"severity": "loud"}, "severity: must be one of TRACE"),
        ("/api/logs", {"severity": "25"}, "severity"),
        ("/api/logs", {"trace_id": "' OR 1=1 --"}, "trace_id: must be 32 hex characters"),
        ("/api/logs/context", {"timestamp": "0", "window": "3601"}, "window"),
        ("/api/metrics", {"name": "m", "step": "0"}, "step"),
        ("/api/metrics", {"name": "m", "step": "1", "start": "0"}, "buckets"),
        ("/api/metrics/traffic", {"step": "-60"}, "step"),
        ("/api/admin/purge", {"days": "0"}, "days: must be an integer in 1..36500"),
        ("/api/admin/purge", {"days": "36501"}, "days"),
    ]
    for path, params, fragment in cases:
        method = "DELETE" if path == "/api/admin/purge" else "GET"
        message = refused(srv, path, params, tenant="attacker", method=method)
        assert fragment in message, (path, params, message)


def test_unknown_and_repeated_parameters(srv: ServerProcess) -> None:
    for method, path, base in EVERY_ROUTE:
        message = refused(srv, path, {**base, "bogus": "1"}, tenant="attacker", method=method)
        assert message == "unknown parameter: bogus"
    for path, name in [("/api/traces", "limit"), ("/api/logs", "search"),
                       ("/api/metrics", "name"), ("/api/admin/purge", "days")]:  # fmt: skip
        method = "DELETE" if path == "/api/admin/purge" else "GET"
        message = refused(srv, path, [(name, "5"), (name, "6")], method=method)
        assert message == f"{name}: given more than once; it takes a single value"
    assert "service_name" in refused(srv, "/api/traces", [("service_name", "a")] * 101)
    assert "search" in refused(srv, "/api/logs", {"search": "x" * 1025})
    assert "NUL" in refused(srv, "/api/logs", {"search": "a\x00b"})
    assert "unknown parameter" in refused(srv, "/api/logs", {"search\x00": "a"})


def test_sql_metacharacters_never_error_and_never_leak(
    world: tuple[ServerProcess, Scenario],
) -> None:
    srv, sc = world
    victim_text = str(ok(srv, "/api/traces", tenant="victim"))
    assert "frontend" in victim_text
    for path, base, names in STRING_PARAMS:
        for name in names:
            for value in METACHARACTERS:
                for tenant in ("attacker", "victim"):
                    status, _, body = call(srv, path, {**base, name: value}, tenant=tenant)
                    assert status in (200, 400), (path, name, value, status, body)
                    if status == 400:
                        assert set(body) == {"error"}
                        continue
                    if name == "search" and tenant == "victim":
                        # a literal substring, case-insensitive: never a wildcard
                        expected = sorted(r["body"] for r in sc.logs
                                          if value.lower() in r["body"].lower())  # fmt: skip
                        assert sorted(r["body"] for r in body["logs"]) == expected, value
                        continue
                    # no other value names anything the victim stored: every list is empty
                    for values in lists_of(body):
                        assert values == [], (path, name, value, tenant, body)
                    counts = {k: v for k, v in body.items() if k in COUNTS}
                    assert set(counts.values()) <= {0}, (path, name, value, tenant, body)
    # still all there
    assert str(ok(srv, "/api/traces", tenant="victim")) == victim_text
    assert ok(srv, "/api/stats", tenant="victim")["spans"] == 39


def test_metacharacters_in_the_tenant_and_the_trace_id(srv: ServerProcess) -> None:
    (trace_id, *_) = [t["trace_id"] for t in ok(srv, "/api/traces", tenant="victim")["traces"]]
    for tenant in ["victim' OR '1'='1", "%", "_ictim", "victim%", "VICTIM", "victim ", " "]:
        body = ok(srv, "/api/traces", tenant=tenant)
        assert body["traces"] == [] or tenant.strip() == "victim", tenant
        status, _, _ = call(srv, f"/api/traces/{trace_id}", tenant=tenant)
        assert status == 404 or tenant.strip() == "victim"
    for path_id in ["' OR 1=1 --", "%25", "_" * 32, trace_id + "'", trace_id[:-1] + "%"]:
        quoted = urllib.parse.quote(path_id, safe="")
        status, _, body = call(srv, f"/api/traces/{quoted}", tenant="victim")
        assert (status, body) == (400, {"error": "trace_id must be 32 hex characters"})
    status, _, body = call(srv, "/api/traces", tenant="a\x01b")
    assert status == 400 and body["error"].startswith("invalid X-Tenant-ID header")
    assert ok(srv, "/api/traces", tenant="x" * 128)["traces"] == []
    status, _, body = call(srv, "/api/traces", tenant="x" * 129)
    assert status == 400


def test_odd_encodings(srv: ServerProcess) -> None:
    """Bytes that are not UTF-8, plus signs and empty names reach the parsers as text."""
    for raw in ("search=%ff%fe", "search=a+b", "service_name=%C3%A9", "=x", "search=%"):
        path = "/api/logs?" + raw
        status, _, body = call(srv, path, tenant="attacker")
        assert status in (200, 400), (raw, status, body)
        if status == 200:
            assert body["logs"] == []
        else:
            assert set(body) == {"error"}


def _answer_then_next(srv: ServerProcess, method: str, path: str, tenant: str) -> tuple[int, int]:
    """Send headers, let the server answer, then the body, then a second request on the
    same keep-alive connection: (first status, second status; 0 when it never came)."""
    body = b"{" + b" " * 1214 + b"}"
    with socket.create_connection(("127.0.0.1", srv.http_port), timeout=5) as sock:
        head = (f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nX-Tenant-ID: {tenant}\r\n\r\n")  # fmt: skip
        sock.sendall(head.encode("latin-1"))
        time.sleep(0.2)
        sock.sendall(body)
        first = _status(sock)
        sock.sendall(b"GET /live HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            return first, _status(sock)
        except TimeoutError:
            return first, 0


def _status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return -1
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))  # fmt: skip
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(head.split(b" ")[1])


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("POST", "/api/traces", 405), ("PUT", "/api/nothing", 404),
     ("POST", "/api/admin/vacuum", 400), ("DELETE", "/api/admin/purge?days=7", 400)],
)  # fmt: skip
def test_a_body_on_the_query_api_is_read_and_refused(
    srv: ServerProcess, method: str, path: str, status: int
) -> None:
    assert _answer_then_next(srv, method, path, "attacker") == (status, 200)


def test_an_otlp_refusal_before_the_body_keeps_the_connection_usable(srv: ServerProcess) -> None:
    # Refused before the body arrived: the answer waits for the body (read and dropped), and
    # the next request on the same keep-alive connection is answered at once.
    assert _answer_then_next(srv, "POST", "/v1/logs", "bad\ttenant") == (400, 200)
