"""OTLP/gRPC receiver: grpclib on the asyncio loop of trio-asyncio.

This is one of the two modules where asyncio-flavoured code lives. Each request
crosses into trio once (``Ingest.export``); everything else here is wire handling
grpclib does not do for us: compressed messages (gzip, deflate), the
GRPC_MAX_RECV_MB limit checked on the length prefix *and* after decompression,
HTTP/2 MAX_CONCURRENT_STREAMS, and a graceful drain.

Resource handling: ``run_grpc`` owns the server; on cancellation it stops listening,
lets in-flight exports finish under SHUTDOWN_TIMEOUT, then closes. ``task_status``
reports the bound port once the socket listens.

Authentication (when API_KEY or API_TENANT_KEYS_FILE is set): ``authorization: Bearer
<key>`` metadata, checked before anything else and before the body is read. Missing or
bad → UNAUTHENTICATED (not retryable: SDKs give up), counted in
``otelcontext_api_auth_failures_total``; a key bound to a tenant wins over ``x-tenant-id``,
and naming another tenant → PERMISSION_DENIED.

Error handling: bad input → INVALID_ARGUMENT; too large → RESOURCE_EXHAUSTED
(not retryable, as OTLP requires); overload / database unavailable / draining →
UNAVAILABLE with a google.rpc.RetryInfo detail; storage failures → INTERNAL.
Unexpected exceptions are logged, counted and answered INTERNAL: a bad request never
takes the server down.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from typing import Any

import trio
import trio_asyncio
from grpclib.config import Configuration
from grpclib.const import Cardinality, Handler, Status
from grpclib.encoding.proto import ProtoStatusDetailsCodec
from grpclib.exceptions import GRPCError
from grpclib.protocol import H2Protocol
from grpclib.server import Server, Stream
from h2.settings import SettingCodes

from otelctx.auth import AuthFailure, KeyTable, TenantMismatch, authenticate, bind_tenant
from otelctx.config import Settings
from otelctx.ingest.errors import ExportFailed, ExportRefused
from otelctx.ingest.service import Ingest
from otelctx.model import Signal
from otelctx.otlp import (
    DecodeError,
    Encoding,
    InvalidTenant,
    PayloadTooLarge,
    decompress,
    export_response,
    retry_info,
    sanitize_tenant,
)
from otelctx.telemetry import Metrics

log = logging.getLogger(__name__)

METHODS = {
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export": Signal.TRACES,
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export": Signal.LOGS,
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export": Signal.METRICS,
}

# Keepalive as in the original: ping after 60 s idle, 10 s to answer.
KEEPALIVE_TIME_S = 60.0
KEEPALIVE_TIMEOUT_S = 10.0


# otelcontext_ingest_requests_total outcome of a refused request, by gRPC status (others:
# "refused", retryable); the same outcomes as OTLP/HTTP's.
_OUTCOMES = {
    Status.INVALID_ARGUMENT: "bad_request", Status.RESOURCE_EXHAUSTED: "bad_request",
    Status.UNIMPLEMENTED: "bad_request", Status.PERMISSION_DENIED: "bad_request",
    Status.INTERNAL: "error",
}  # fmt: skip


class _RawCodec:
    """Passes bytes through: we decode ourselves, once, after the capacity check."""

    __content_subtype__ = "proto"

    def encode(self, message: Any, message_type: Any) -> bytes:
        assert isinstance(message, bytes)
        return message

    def decode(self, data: bytes, message_type: Any) -> bytes:
        return data


class _Services:
    def __init__(self, receiver: _Receiver) -> None:
        self._receiver = receiver

    def __mapping__(self) -> dict[str, Handler]:
        out = {}
        for path, signal in METHODS.items():

            async def handle(stream: Stream[bytes, bytes], signal: Signal = signal) -> None:
                await self._receiver.handle(stream, signal)

            out[path] = Handler(handle, Cardinality.UNARY_UNARY, bytes, bytes)
        return out


def _retryable(message: str, retry_after_s: float) -> GRPCError:
    return GRPCError(Status.UNAVAILABLE, message, [retry_info(retry_after_s)])


def _metadata_text(stream: Stream[bytes, bytes], key: str) -> str | None:
    value = stream.metadata.get(key) if stream.metadata else None
    return value if isinstance(value, str) else None


class _Receiver:
    def __init__(self, settings: Settings, ingest: Ingest, metrics: Metrics) -> None:
        self._max = settings.grpc_max_recv_bytes
        self._keys = KeyTable.build(settings.api_key, settings.api_tenant_keys)
        self._ingest = ingest
        self._metrics = metrics
        self._export = trio_asyncio.trio_as_aio(ingest.export)
        self.inflight = 0
        self.draining = False

    async def handle(self, stream: Stream[bytes, bytes], signal: Signal) -> None:
        # Before any bookkeeping: as on HTTP, a request without a valid key is counted in
        # otelcontext_api_auth_failures_total only.
        bound = self._authenticate(stream)
        t0 = time.perf_counter()
        outcome = "ok"
        self.inflight += 1
        try:
            await self._handle(stream, signal, bound)
        except GRPCError as err:
            outcome = _OUTCOMES.get(err.status, "refused")
            raise
        except Exception:
            outcome = "error"
            self._metrics.internal_errors.labels("grpc").inc()
            log.exception("gRPC %s export failed unexpectedly", signal.value)
            raise GRPCError(Status.INTERNAL, "internal error") from None
        finally:
            self.inflight -= 1
            self._metrics.requests.labels(signal.value, "grpc", outcome).inc()
            self._metrics.request_duration.labels(signal.value, "grpc").observe(
                time.perf_counter() - t0
            )

    def _authenticate(self, stream: Stream[bytes, bytes]) -> str | None:
        """The tenant the request's key is bound to (None: unbound key, or auth off)."""
        if not self._keys.enabled:
            return None
        header = _metadata_text(stream, "authorization")
        found = authenticate(self._keys, header.encode() if header is not None else None)
        if isinstance(found, AuthFailure):
            self._metrics.api_auth_failures.labels(found.value).inc()
            raise GRPCError(Status.UNAUTHENTICATED, "unauthorized: send authorization: Bearer "
                            "<API key> metadata")  # fmt: skip
        return found.tenant

    async def _handle(
        self, stream: Stream[bytes, bytes], signal: Signal, bound: str | None
    ) -> None:
        if self.draining:
            raise _retryable("otelctx is shutting down; retry", 1.0)
        try:
            self._ingest.check_capacity()
        except ExportRefused as exc:
            self._metrics.rejected.labels(signal.value, "overload").inc()
            raise _retryable(str(exc), exc.retry_after_s) from None
        try:
            tenant = bind_tenant(bound, sanitize_tenant(_metadata_text(stream, "x-tenant-id")))
        except InvalidTenant as exc:
            raise GRPCError(Status.INVALID_ARGUMENT, f"invalid x-tenant-id: {exc}") from None
        except TenantMismatch:
            self._metrics.api_tenant_mismatch.labels("grpc").inc()
            raise GRPCError(Status.PERMISSION_DENIED, "tenant mismatch: this API key is bound "
                            "to another tenant than x-tenant-id names") from None  # fmt: skip
        try:
            body = await self._read_message(stream)
        except GRPCError as err:
            reason = "too_large" if err.status is Status.RESOURCE_EXHAUSTED else "undecodable"
            self._metrics.rejected.labels(signal.value, reason).inc()
            raise
        try:
            result = await self._export(signal, body, Encoding.PROTOBUF, tenant, "grpc")
        except DecodeError as exc:
            self._metrics.rejected.labels(signal.value, "undecodable").inc()
            raise GRPCError(Status.INVALID_ARGUMENT, str(exc)) from None
        except ExportRefused as exc:
            raise _retryable(str(exc), exc.retry_after_s) from None
        except ExportFailed as exc:
            raise GRPCError(Status.INTERNAL, str(exc)) from None
        await stream.send_message(
            export_response(signal, result.rejected, result.message, Encoding.PROTOBUF)
        )

    async def _read_message(self, stream: Stream[bytes, bytes]) -> bytes:
        # grpclib refuses compressed messages and has no size limit, so the framing is
        # read here: 1 byte compressed flag, 4 bytes big-endian length, the message.
        raw = stream._stream  # grpclib.protocol.Stream
        prefix = await raw.recv_data(5)
        if len(prefix) < 5:
            raise GRPCError(Status.INVALID_ARGUMENT, "request carries no message")
        compressed, length = struct.unpack(">?I", prefix)
        if length > self._max:
            raise GRPCError(
                Status.RESOURCE_EXHAUSTED,
                f"message of {length} bytes exceeds GRPC_MAX_RECV_MB ({self._max} bytes)",
            )
        data = await raw.recv_data(length)
        if len(data) != length:
            raise GRPCError(Status.INVALID_ARGUMENT, "request message is truncated")
        if not compressed:
            return data
        headers = dict(raw.headers or ())
        encoding = headers.get("grpc-encoding", "identity")
        if encoding not in ("gzip", "deflate"):
            raise GRPCError(Status.UNIMPLEMENTED, f"grpc-encoding {encoding!r} is not supported")
        try:
            return decompress(data, encoding, self._max)
        except PayloadTooLarge:
            raise GRPCError(
                Status.RESOURCE_EXHAUSTED,
                f"decompressed message exceeds GRPC_MAX_RECV_MB ({self._max} bytes)",
            ) from None
        except DecodeError as exc:
            raise GRPCError(Status.INVALID_ARGUMENT, str(exc)) from None


class _OtlpServer(Server):
    """grpclib's Server with HTTP/2 MAX_CONCURRENT_STREAMS set on every connection, and
    the request headers kept on each stream (grpclib keeps them only on the client side)."""

    def __init__(self, max_streams: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_streams = max_streams

    def _protocol_factory(self) -> H2Protocol:
        protocol = super()._protocol_factory()
        max_streams = self._max_streams
        made = protocol.connection_made
        handler = protocol.handler
        accept = handler.accept

        def accept_keeping_headers(stream: Any, headers: Any, release_stream: Any) -> None:
            # grpclib hands request headers only to its dispatcher; keep them on the
            # stream so _read_message can see grpc-encoding.
            stream.headers = headers
            accept(stream, headers, release_stream)

        setattr(handler, "accept", accept_keeping_headers)  # noqa: B010 - per-instance hook

        def connection_made(transport: asyncio.BaseTransport) -> None:
            made(transport)
            h2conn = protocol.connection._connection
            h2conn.update_settings({SettingCodes.MAX_CONCURRENT_STREAMS: max_streams})
            protocol.connection.flush()

        setattr(protocol, "connection_made", connection_made)  # noqa: B010 - per-instance hook
        return protocol


async def run_grpc(
    settings: Settings,
    ingest: Ingest,
    metrics: Metrics,
    stop: trio.Event,
    *,
    port: int,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until ``stop`` is set (then drain) or until cancelled (then close at once)."""
    receiver = _Receiver(settings, ingest, metrics)

    async def start() -> tuple[Server, int]:
        server = _OtlpServer(
            settings.grpc_max_concurrent_streams,
            [_Services(receiver)],
            codec=_RawCodec(),
            status_details_codec=ProtoStatusDetailsCodec(),
            config=Configuration(
                _keepalive_time=KEEPALIVE_TIME_S,
                _keepalive_timeout=KEEPALIVE_TIMEOUT_S,
                _keepalive_permit_without_calls=True,
            ),
        )
        await server.start(settings.listen_host, port)
        assert isinstance(server._server, asyncio.Server)
        bound = server._server.sockets[0].getsockname()[1]
        return server, int(bound)

    server, bound = await trio_asyncio.aio_as_trio(start)()
    log.info("OTLP/gRPC listening on %s:%d", settings.listen_host, bound)
    try:
        task_status.started(bound)
        await stop.wait()
        # Stop listening, answer new calls on open connections UNAVAILABLE, and let the
        # exports in flight get their acknowledgement before the connections close.
        receiver.draining = True
        server._server.close()
        with trio.move_on_after(settings.shutdown_timeout):
            # inflight changes on the asyncio side, which cannot set a trio.Event: poll
            while receiver.inflight:  # noqa: ASYNC110
                await trio.sleep(0.02)
        if receiver.inflight:
            log.warning("gRPC shutdown: cancelling %d unfinished exports", receiver.inflight)
    finally:
        server.close()
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            await trio_asyncio.aio_as_trio(server.wait_closed)()
