"""OTLP/HTTP receiver: ``POST /v1/traces|logs|metrics``.

Follows the OTLP specification's HTTP rules: protobuf or JSON bodies (media type
parameters allowed), gzip/deflate, size limits after decompression (413), 415 for
other types and encodings, 405 for other methods, 400 with a google.rpc.Status in the
request's encoding for undecodable bodies, 200 for an empty request, 200 with
partial_success when some items were refused. Capacity is checked before the body is
read: overload and outages answer 503 with Retry-After, which OTLP clients retry.
The API key and the tenant were checked by the security middleware (api/security.py)
before this module runs.
"""

from __future__ import annotations

import math
import time

from quart import Blueprint, Response, request

from otelctx.api.context import deps, request_identity
from otelctx.ingest.errors import ExportFailed, ExportRefused
from otelctx.ingest.service import ExportResult
from otelctx.model import Signal
from otelctx.otlp import (
    DecodeError,
    Encoding,
    PayloadTooLarge,
    UnsupportedEncoding,
    decompress,
    export_response,
    status_body,
)

blueprint = Blueprint("otlp_http", __name__)

_MEDIA = {"application/x-protobuf": Encoding.PROTOBUF, "application/json": Encoding.JSON}
_CONTENT_TYPE = {Encoding.PROTOBUF: "application/x-protobuf", Encoding.JSON: "application/json"}
# Bytes past the limit read and discarded before answering 413 (see _read_body).
_DRAIN_BYTES = 32 * 1024 * 1024
_SIGNALS = {"traces": Signal.TRACES, "logs": Signal.LOGS, "metrics": Signal.METRICS}

# gRPC codes carried in google.rpc.Status bodies
_INVALID_ARGUMENT, _RESOURCE_EXHAUSTED, _INTERNAL, _UNAVAILABLE = 3, 8, 13, 14


class _Reject(Exception):
    def __init__(self, http: int, code: int, message: str, reason: str,
                 retry_after_s: float | None = None, *, counted: bool = False) -> None:  # fmt: skip
        super().__init__(message)
        self.http, self.code, self.reason, self.retry_after_s = http, code, reason, retry_after_s
        # True when ingest already counted the request's items in ingest_rejected_items
        self.counted = counted


@blueprint.route("/v1/<signal_name>", methods=["POST", "GET", "PUT", "PATCH", "DELETE"])
async def export(signal_name: str) -> Response:
    signal = _SIGNALS.get(signal_name)
    if signal is None:
        return Response(b'{"error":"not found"}', 404, content_type="application/json")
    media = (request.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    encoding = _MEDIA.get(media, Encoding.PROTOBUF)
    d = deps()
    t0 = time.perf_counter()
    outcome = "ok"
    try:
        if request.method != "POST":
            resp = _status(405, _INVALID_ARGUMENT, "use POST", encoding)
            resp.headers["Allow"] = "POST"
            outcome = "bad_request"
            return resp
        if media not in _MEDIA:
            outcome = "bad_request"
            return _status(
                415, _INVALID_ARGUMENT,
                f"unsupported Content-Type {media or '(none)'!r}: use application/x-protobuf"
                " or application/json", encoding,
            )  # fmt: skip
        result = await _export(signal, encoding)
        if result.rejected:
            outcome = "partial"
        body = export_response(signal, result.rejected, result.message, encoding)
        return Response(body, 200, content_type=_CONTENT_TYPE[encoding])
    except _Reject as rej:
        if rej.code == _INTERNAL:
            outcome = "error"
        else:
            outcome = "refused" if rej.retry_after_s is not None else "bad_request"
        if not rej.counted:
            d.metrics.rejected.labels(signal.value, rej.reason).inc()
        resp = _status(rej.http, rej.code, str(rej), encoding, rej.retry_after_s)
        if rej.retry_after_s is not None:
            resp.headers["Retry-After"] = str(max(1, math.ceil(rej.retry_after_s)))
        return resp
    except Exception:
        outcome = "error"  # answered 500 by the app's recovery
        raise
    finally:
        d.metrics.requests.labels(signal.value, "http", outcome).inc()
        d.metrics.request_duration.labels(signal.value, "http").observe(time.perf_counter() - t0)


async def _export(signal: Signal, encoding: Encoding) -> ExportResult:
    d = deps()
    limit = d.settings.http_max_body_bytes
    # Resolved by the security middleware: the API key's bound tenant wins over the header
    # (a mismatch was refused with 403); None lets ingest use tenant.id or DEFAULT_TENANT.
    identity = request_identity()
    if identity.tenant_error is not None:
        raise _Reject(400, _INVALID_ARGUMENT,
                      f"invalid X-Tenant-ID header: {identity.tenant_error}",
                      "invalid")  # fmt: skip
    tenant = identity.tenant
    content_encoding = request.headers.get("Content-Encoding")
    try:
        d.ingest.check_capacity(request.content_length or 0)
    except ExportRefused as exc:
        raise _Reject(503, _UNAVAILABLE, str(exc), exc.reason, exc.retry_after_s) from None
    if request.content_length is not None and request.content_length > limit + _DRAIN_BYTES:
        raise _Reject(413, _RESOURCE_EXHAUSTED, _too_large(limit), "too_large")
    raw = await _read_body(limit)
    try:
        body = decompress(raw, content_encoding, limit)
    except PayloadTooLarge:
        raise _Reject(413, _RESOURCE_EXHAUSTED, _too_large(limit), "too_large") from None
    except UnsupportedEncoding as exc:
        raise _Reject(415, _INVALID_ARGUMENT, str(exc), "undecodable") from None
    except DecodeError as exc:
        raise _Reject(400, _INVALID_ARGUMENT, str(exc), "undecodable") from None
    try:
        return await d.ingest.export(signal, body, encoding, tenant, "http")
    except DecodeError as exc:
        raise _Reject(400, _INVALID_ARGUMENT, str(exc), "undecodable") from None
    except ExportRefused as exc:
        raise _Reject(503, _UNAVAILABLE, str(exc), exc.reason, exc.retry_after_s,
                      counted=True) from None  # fmt: skip
    except ExportFailed as exc:
        raise _Reject(500, _INTERNAL, str(exc), "storage_error", counted=True) from None


async def _read_body(limit: int) -> bytes:
    """The body, or 413 once it passes ``limit``.

    Past the limit the rest is read and thrown away (up to _DRAIN_BYTES more), so that
    a client still sending sees the 413 instead of a broken connection.
    """
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.body:
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        elif size > limit + _DRAIN_BYTES:
            break
        else:
            chunks.clear()
    if size > limit:
        raise _Reject(413, _RESOURCE_EXHAUSTED, _too_large(limit), "too_large")
    return b"".join(chunks)


def _too_large(limit: int) -> str:
    return f"request body exceeds OTLP_HTTP_MAX_BODY_MB ({limit} bytes) after decompression"


def _status(
    http: int, code: int, message: str, encoding: Encoding, retry_after_s: float | None = None
) -> Response:
    body = status_body(code, message, encoding, retry_after_s=retry_after_s)
    return Response(body, http, content_type=_CONTENT_TYPE[encoding])
