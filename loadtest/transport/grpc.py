"""OTLP/gRPC transport: a grpclib ``Channel`` (one HTTP/2 connection) per simulated service.

grpclib is asyncio code; the program runs inside ``trio_asyncio.open_loop()`` and each
export crosses into asyncio once (``aio_as_trio``), which costs ~100 µs: one crossing per
request, never per span. Measured against a pure-asyncio client in its own process,
the crossing adds little (README "Load test"), and one process keeps the program simple.

Outcomes (OTLP specification): OK → ``Acked``; UNAVAILABLE, and RESOURCE_EXHAUSTED when
it carries RetryInfo → ``Refused`` with the RetryInfo delay; CANCELLED,
DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, DATA_LOSS and connection failures →
``Failed(retryable=True)``; every other status → ``Failed(retryable=False)``.
"""

from __future__ import annotations

import ssl
from typing import Any

import trio_asyncio
from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.encoding.base import CodecBase
from grpclib.encoding.proto import ProtoStatusDetailsCodec
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError

from loadtest.options import Endpoint
from loadtest.transport.base import (
    Failed,
    Outcome,
    Refused,
    Signal,
    parse_export_response,
    retry_delay_of,
)

_RETRYABLE = frozenset({
    Status.CANCELLED, Status.DEADLINE_EXCEEDED, Status.ABORTED, Status.OUT_OF_RANGE,
    Status.DATA_LOSS,
})  # fmt: skip


class _RawCodec(CodecBase):
    """Bytes in, bytes out: requests are serialized once by the builder."""

    __content_subtype__ = "proto"

    def encode(self, message: Any, message_type: Any) -> bytes:
        assert isinstance(message, bytes)
        return message

    def decode(self, data: bytes, message_type: Any) -> bytes:
        return data


class GRPCTransport:
    """Create inside ``trio_asyncio.open_loop()``; ``open`` before the first export."""

    def __init__(self, endpoint: Endpoint, metadata: list[tuple[str, str]]) -> None:
        self._endpoint = endpoint
        self._metadata = metadata
        self._channel: Channel | None = None

    async def open(self) -> None:
        await trio_asyncio.aio_as_trio(self._open_aio)()

    async def _open_aio(self) -> None:
        # Channel.__init__ takes the running asyncio loop: build it on the asyncio side
        tls: ssl.SSLContext | None = ssl.create_default_context() if self._endpoint.tls else None
        self._channel = Channel(
            self._endpoint.host,
            self._endpoint.port,
            ssl=tls,
            codec=_RawCodec(),
            status_details_codec=ProtoStatusDetailsCodec(),
        )

    async def export(self, signal: Signal, body: bytes) -> Outcome:
        outcome: Outcome = await trio_asyncio.aio_as_trio(self._export_aio)(signal, body)
        return outcome

    async def _export_aio(self, signal: Signal, body: bytes) -> Outcome:
        assert self._channel is not None, "open() first"
        try:
            async with self._channel.request(
                signal.grpc_path, Cardinality.UNARY_UNARY, bytes, bytes, metadata=self._metadata
            ) as stream:
                await stream.send_message(body, end=True)
                reply = await stream.recv_message()
        except GRPCError as err:
            message = f"gRPC {err.status.name}: {err.message or ''}".rstrip(": ")
            delay = retry_delay_of(err.details)
            if err.status is Status.UNAVAILABLE or (
                err.status is Status.RESOURCE_EXHAUSTED and delay is not None
            ):
                return Refused(delay, message)
            return Failed(message, retryable=err.status in _RETRYABLE)
        except (OSError, StreamTerminatedError, ProtocolError, TimeoutError) as exc:
            return Failed(f"gRPC connection: {type(exc).__name__}: {exc}", retryable=True)
        return parse_export_response(signal, reply or b"")

    async def aclose(self) -> None:
        if self._channel is not None:
            channel, self._channel = self._channel, None

            async def close() -> None:
                channel.close()

            await trio_asyncio.aio_as_trio(close)()
