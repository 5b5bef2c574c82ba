"""Hostile and malformed OTLP input against a real ``otelctx serve`` process.

Test rules: one server for the module (127.0.0.1, port 0, SQLite in a temporary
directory); every request has a client-side timeout; after each bad request the test
checks that nothing was stored (row counts of every table are unchanged) and, where
it matters, that a good request still works afterwards. A 200 means the rows are
committed (durable ack), so row counts right after a response are exact.

Clients: ``http.client`` for OTLP/HTTP (it lets us send any method, header, encoding
and body) and grpcio with raw bytes for OTLP/gRPC, so the server sees exactly what
we wrote.
"""

from __future__ import annotations

import http.client
import os
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import orjson
import pytest
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.conftest import ServerProcess, start_server

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
TABLES = ("spans", "traces", "logs", "metric_points")
MIB = 1024 * 1024
LIMIT = 16 * MIB  # default GRPC_MAX_RECV_MB and OTLP_HTTP_MAX_BODY_MB
HTTP_TIMEOUT_S = 30
GRPC_TIMEOUT_S = 30
GRPC_OPTIONS = [
    ("grpc.max_send_message_length", 64 << 20),
    ("grpc.max_receive_message_length", 64 << 20),
]
# Not a protobuf: field 1 (length-delimited) announces far more bytes than follow.
GARBAGE = b"\x0a\xff\xff\xff\x0fthis is not protobuf"
INVALID_ARGUMENT, RESOURCE_EXHAUSTED = 3, 8

_counter = iter(range(1, 1 << 30))


# --------------------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("bad_input"))
    try:
        yield server
    finally:
        assert server.stop() == 0, server.log_text()


def counts(server: ServerProcess) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True, timeout=10)
    try:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        conn.close()


def span_rows(server: ServerProcess, trace_ids: list[str]) -> list[tuple[str, str, str]]:
    """(tenant_id, trace_id, span_id) of the stored spans of ``trace_ids``."""
    conn = sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True, timeout=10)
    try:
        marks = ",".join("?" * len(trace_ids))
        return conn.execute(
            f"SELECT tenant_id, trace_id, span_id FROM spans WHERE trace_id IN ({marks})"
            " ORDER BY span_id",
            trace_ids,
        ).fetchall()
    finally:
        conn.close()


def trace_tenants(server: ServerProcess, trace_id: str) -> list[str]:
    conn = sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT tenant_id FROM traces WHERE trace_id = ?", (trace_id,))
        return [r[0] for r in rows]
    finally:
        conn.close()


def new_ids() -> tuple[bytes, bytes]:
    n = next(_counter)
    trace_id = (os.getpid() << 64 | n).to_bytes(16, "big")
    span_id = (0xA000_0000_0000_0000 | n).to_bytes(8, "big")
    return trace_id, span_id


def make_span(
    trace_id: bytes | None = None, span_id: bytes | None = None, *, big_attr: int = 0
) -> Span:
    tid, sid = new_ids()
    span = Span(
        trace_id=tid if trace_id is None else trace_id,
        span_id=sid if span_id is None else span_id,
        name="GET /checkout",
        kind=Span.SPAN_KIND_SERVER,
        start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=1_700_000_000_250_000_000,
    )
    if big_attr:
        span.attributes.append(KeyValue(key="blob", value=AnyValue(string_value="a" * big_attr)))
    return span


def make_request(spans: list[Span]) -> ExportTraceServiceRequest:
    resource_spans = ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])
    resource_spans.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value="checkout"))
    )
    return ExportTraceServiceRequest(resource_spans=[resource_spans])


def http_request(
    server: ServerProcess,
    body: bytes | Iterator[bytes] = b"",
    headers: dict[str, str] | None = None,
    *,
    method: str = "POST",
    path: str = "/v1/traces",
    chunked: bool = False,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=HTTP_TIMEOUT_S)
    try:
        conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def post_protobuf(
    server: ServerProcess, body: bytes, extra: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    return http_request(server, body, {"Content-Type": "application/x-protobuf", **(extra or {})})


def grpc_export(
    server: ServerProcess,
    payload: bytes,
    *,
    metadata: list[tuple[str, str]] | None = None,
    compression: grpc.Compression | None = None,
) -> bytes:
    with grpc.insecure_channel(server.grpc_endpoint, options=GRPC_OPTIONS) as channel:
        export: Callable[..., bytes] = channel.unary_unary(
            TRACE_EXPORT,
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        return export(payload, metadata=metadata, compression=compression, timeout=GRPC_TIMEOUT_S)


def grpc_error(server: ServerProcess, payload: bytes, **kwargs: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        grpc_export(server, payload, **kwargs)  # type: ignore[arg-type]
    return info.value


def assert_good_request_works(server: ServerProcess) -> None:
    span = make_span()
    status, _, body = post_protobuf(server, make_request([span]).SerializeToString())
    assert status == 200, body
    assert len(span_rows(server, [span.trace_id.hex()])) == 1


def gzip_zeros(total: int) -> bytes:
    """``total`` zero bytes, gzip-compressed, without holding them in memory."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(MIB)
    parts = [comp.compress(chunk) for _ in range(total // MIB)]
    parts.append(comp.flush())
    return b"".join(parts)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


# --------------------------------------------------------------------------------------
# OTLP/HTTP


def test_http_garbage_protobuf_is_400_with_status_protobuf(srv: ServerProcess) -> None:
    with pytest.raises(ProtobufDecodeError):  # the fixture really is undecodable
        ExportTraceServiceRequest.FromString(GARBAGE)
    before = counts(srv)
    status, headers, body = post_protobuf(srv, GARBAGE)
    assert status == 400, body
    assert headers["Content-Type"].startswith("application/x-protobuf")
    err = Status.FromString(body)
    assert err.code == INVALID_ARGUMENT
    assert "protobuf" in err.message and "ExportTraceServiceRequest" in err.message
    assert counts(srv) == before
    assert_good_request_works(srv)


def test_http_malformed_json_is_400_with_json_status(srv: ServerProcess) -> None:
    before = counts(srv)
    status, headers, body = http_request(
        srv, b'{"resourceSpans": [', {"Content-Type": "application/json"}
    )
    assert status == 400, body
    assert headers["Content-Type"].startswith("application/json")
    err = orjson.loads(body)
    assert err["code"] == INVALID_ARGUMENT
    assert "JSON" in err["message"]
    assert counts(srv) == before


def test_http_json_with_charset_parameter_is_accepted(srv: ServerProcess) -> None:
    status, _, body = http_request(srv, b"{}", {"Content-Type": "application/json; charset=utf-8"})
    assert status == 200, body
    assert orjson.loads(body) == {}


def test_http_wrong_content_type_is_415(srv: ServerProcess) -> None:
    before = counts(srv)
    valid = make_request([make_span()]).SerializeToString()
    status, _, body = http_request(srv, valid, {"Content-Type": "text/plain"})
    assert status == 415, body
    assert counts(srv) == before


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_http_other_methods_are_405_with_allow_post(srv: ServerProcess, method: str) -> None:
    before = counts(srv)
    body = make_request([make_span()]).SerializeToString() if method == "PUT" else b""
    status, headers, resp = http_request(
        srv, body, {"Content-Type": "application/x-protobuf"}, method=method
    )
    assert status == 405, resp
    assert headers["Allow"] == "POST"
    assert counts(srv) == before


def test_http_gzip_bomb_is_413_fast_and_memory_stays_sane(srv: ServerProcess) -> None:
    bomb = gzip_zeros(200 * MIB)
    assert len(bomb) < 400 * 1024
    before = counts(srv)
    rss_before = rss_kib(srv.proc.pid)
    t0 = time.monotonic()
    status, _, body = post_protobuf(srv, bomb, {"Content-Encoding": "gzip"})
    elapsed = time.monotonic() - t0
    assert status == 413, body
    assert Status.FromString(body).code == RESOURCE_EXHAUSTED
    assert elapsed < 5, f"the bomb took {elapsed:.1f} s to refuse"
    assert srv.get("/live")[0] == 200
    grown_mib = (rss_kib(srv.proc.pid) - rss_before) / 1024
    # Inflating stops one byte past OTLP_HTTP_MAX_BODY_MB (16 MiB), never near 200 MiB.
    assert grown_mib < 64, f"server RSS grew by {grown_mib:.0f} MiB"
    assert counts(srv) == before
    assert_good_request_works(srv)


def test_http_gzip_body_is_accepted(srv: ServerProcess) -> None:
    span = make_span()
    comp = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    raw = make_request([span]).SerializeToString()
    body = comp.compress(raw) + comp.flush()
    status, _, resp = post_protobuf(srv, body, {"Content-Encoding": "gzip"})
    assert status == 200, resp
    assert len(span_rows(srv, [span.trace_id.hex()])) == 1


def test_http_unsupported_content_encoding_is_415(srv: ServerProcess) -> None:
    before = counts(srv)
    valid = make_request([make_span()]).SerializeToString()
    status, _, body = post_protobuf(srv, valid, {"Content-Encoding": "br"})
    assert status == 415, body
    assert "br" in Status.FromString(body).message
    assert counts(srv) == before


def test_http_body_over_limit_is_413(srv: ServerProcess) -> None:
    before = counts(srv)
    # A valid request: if the limit were not enforced it would be stored.
    big = make_request([make_span(big_attr=LIMIT + MIB)]).SerializeToString()
    assert len(big) > LIMIT
    status, _, body = post_protobuf(srv, big)
    assert status == 413, body
    assert Status.FromString(body).code == RESOURCE_EXHAUSTED
    assert counts(srv) == before
    assert_good_request_works(srv)


def test_http_chunked_body_over_limit_is_413(srv: ServerProcess) -> None:
    """No Content-Length: the limit is enforced while the body streams in."""
    before = counts(srv)
    big = make_request([make_span(big_attr=LIMIT + MIB)]).SerializeToString()
    pieces = (big[i : i + MIB] for i in range(0, len(big), MIB))
    status, _, body = http_request(
        srv, pieces, {"Content-Type": "application/x-protobuf"}, chunked=True
    )
    assert status == 413, body
    assert counts(srv) == before
    assert_good_request_works(srv)


@pytest.mark.parametrize("content_type", ["application/x-protobuf", "application/json"])
def test_http_empty_body_is_200(srv: ServerProcess, content_type: str) -> None:
    before = counts(srv)
    status, _, body = http_request(srv, b"", {"Content-Type": content_type})
    assert status == 200, body
    if content_type == "application/json":
        assert orjson.loads(body) == {}
    else:
        assert not ExportTraceServiceResponse.FromString(body).HasField("partial_success")
    assert counts(srv) == before


def test_http_short_trace_id_is_partial_success(srv: ServerProcess) -> None:
    good = [make_span(), make_span()]
    bad = make_span(trace_id=b"\x01\x02\x03")
    status, _, body = post_protobuf(srv, make_request([good[0], bad, good[1]]).SerializeToString())
    assert status == 200, body
    partial = ExportTraceServiceResponse.FromString(body).partial_success
    assert partial.rejected_spans == 1
    assert "trace_id" in partial.error_message and "16 bytes" in partial.error_message
    stored = span_rows(srv, [s.trace_id.hex() for s in good])
    assert {(r[1], r[2]) for r in stored} == {(s.trace_id.hex(), s.span_id.hex()) for s in good}
    assert span_rows(srv, [bad.trace_id.hex()]) == []


@pytest.mark.parametrize(
    "tenant",
    [
        b"acme\x01corp",  # C0 control character
        b"acme\x7f",  # DEL
        b"ac\x85me",  # C1 control character (NEL) inside the value
        "acme\u200b".encode(),  # zero-width space (a format character), UTF-8 on the wire
        b"t" * 200,  # too long
    ],
    ids=["c0-control", "del", "c1-control", "zero-width-space", "200-chars"],
)
def test_http_hostile_tenant_header_is_400(srv: ServerProcess, tenant: bytes) -> None:
    before = counts(srv)
    valid = make_request([make_span()]).SerializeToString()
    conn = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=HTTP_TIMEOUT_S)
    try:
        # putheader sends the bytes as they are (request() would re-encode a str).
        conn.putrequest("POST", "/v1/traces")
        conn.putheader("Content-Type", "application/x-protobuf")
        conn.putheader("Content-Length", str(len(valid)))
        conn.putheader("X-Tenant-ID", tenant)
        conn.endheaders(valid)
        resp = conn.getresponse()
        status, body = resp.status, resp.read()
    finally:
        conn.close()
    assert status == 400, body
    err = Status.FromString(body)
    assert err.code == INVALID_ARGUMENT
    assert "X-Tenant-ID" in err.message
    assert counts(srv) == before


def test_http_valid_tenant_header_scopes_rows(srv: ServerProcess) -> None:
    spans = [make_span(), make_span()]
    status, _, body = post_protobuf(
        srv, make_request(spans).SerializeToString(), {"X-Tenant-ID": "acme-42"}
    )
    assert status == 200, body
    rows = span_rows(srv, [s.trace_id.hex() for s in spans])
    assert len(rows) == 2
    assert {r[0] for r in rows} == {"acme-42"}
    for span in spans:
        assert trace_tenants(srv, span.trace_id.hex()) == ["acme-42"]


def test_json_non_hex_trace_id_is_partial_success(srv: ServerProcess) -> None:
    good = [make_span(), make_span()]

    def as_json(span: Span, trace_hex: str) -> dict[str, object]:
        return {
            "traceId": trace_hex,
            "spanId": span.span_id.hex(),
            "name": "GET /cart",
            "kind": 2,
            "startTimeUnixNano": "1700000000000000000",
            "endTimeUnixNano": "1700000000100000000",
        }

    document = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]
                },
                "scopeSpans": [
                    {
                        "spans": [
                            as_json(good[0], good[0].trace_id.hex()),
                            as_json(make_span(), "zz" * 16),
                            as_json(good[1], good[1].trace_id.hex()),
                        ]
                    }
                ],
            }
        ]
    }
    status, headers, body = http_request(
        srv, orjson.dumps(document), {"Content-Type": "application/json"}
    )
    assert status == 200, body
    assert headers["Content-Type"].startswith("application/json")
    partial = orjson.loads(body)["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 1
    message = partial["errorMessage"]
    assert ("trace_id" in message or "traceId" in message) and "hex" in message
    stored = span_rows(srv, [s.trace_id.hex() for s in good])
    assert {(r[1], r[2]) for r in stored} == {(s.trace_id.hex(), s.span_id.hex()) for s in good}


# --------------------------------------------------------------------------------------
# OTLP/gRPC


def test_grpc_garbage_is_invalid_argument(srv: ServerProcess) -> None:
    before = counts(srv)
    err = grpc_error(srv, GARBAGE)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
    assert "protobuf" in (err.details() or "")
    assert counts(srv) == before


def test_grpc_oversized_message_is_resource_exhausted(srv: ServerProcess) -> None:
    before = counts(srv)
    big = make_request([make_span(big_attr=17 * MIB)]).SerializeToString()
    assert len(big) > LIMIT
    t0 = time.monotonic()
    err = grpc_error(srv, big)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    assert "GRPC_MAX_RECV_MB" in (err.details() or "")
    assert time.monotonic() - t0 < 10
    assert counts(srv) == before
    assert_good_request_works(srv)


def test_grpc_gzip_bomb_is_resource_exhausted(srv: ServerProcess) -> None:
    before = counts(srv)
    big = make_request([make_span(big_attr=17 * MIB)]).SerializeToString()
    assert len(zlib.compress(big)) < 1 * MIB  # small on the wire, too large inflated
    err = grpc_error(srv, big, compression=grpc.Compression.Gzip)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    assert "GRPC_MAX_RECV_MB" in (err.details() or "")
    assert counts(srv) == before
    assert srv.get("/live")[0] == 200


def test_grpc_hostile_tenant_metadata_is_invalid_argument(srv: ServerProcess) -> None:
    # grpcio refuses to send control characters in metadata, so the hostile value a
    # grpcio client can send is one that is too long.
    before = counts(srv)
    valid = make_request([make_span()]).SerializeToString()
    err = grpc_error(srv, valid, metadata=[("x-tenant-id", "t" * 200)])
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
    assert "x-tenant-id" in (err.details() or "")
    assert counts(srv) == before


def test_grpc_valid_tenant_metadata_scopes_rows(srv: ServerProcess) -> None:
    span = make_span()
    grpc_export(srv, make_request([span]).SerializeToString(), metadata=[("x-tenant-id", "globex")])
    assert [r[0] for r in span_rows(srv, [span.trace_id.hex()])] == ["globex"]


def test_grpc_short_trace_id_is_partial_success(srv: ServerProcess) -> None:
    good = make_span()
    bad = make_span(trace_id=b"\x01\x02\x03")
    resp = ExportTraceServiceResponse.FromString(
        grpc_export(srv, make_request([bad, good]).SerializeToString())
    )
    assert resp.partial_success.rejected_spans == 1
    assert "trace_id" in resp.partial_success.error_message
    assert len(span_rows(srv, [good.trace_id.hex()])) == 1


def test_grpc_gzip_valid_request_is_stored(srv: ServerProcess) -> None:
    spans = [make_span(), make_span(), make_span()]
    resp = ExportTraceServiceResponse.FromString(
        grpc_export(srv, make_request(spans).SerializeToString(), compression=grpc.Compression.Gzip)
    )
    assert not resp.HasField("partial_success")
    assert len(span_rows(srv, [s.trace_id.hex() for s in spans])) == 3


def test_server_survived_everything(srv: ServerProcess) -> None:
    assert srv.proc.poll() is None
    assert srv.get("/live")[0] == 200
    assert "Traceback" not in srv.log_text()
