"""A small HTTP/1.1 client over Trio streams (h11), one keep-alive connection.

``HTTPConnection.request`` sends one request and reads the whole response. The
connection is opened on first use and kept for the next request when both sides allow
it; otherwise, and after any failure or cancellation, it is dropped and the next request
opens a new one.

Error handling: network and protocol trouble raise ``HTTPError`` (from the underlying
``OSError``, ``trio.BrokenResourceError``, ``ssl.SSLError`` or ``h11`` error); callers
decide whether to retry. Timeouts are the caller's (``trio.move_on_after``).

Resource handling: whoever creates the connection calls ``aclose``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import h11
import trio

_RECV = 65536
_USER_AGENT = b"otelctx-loadtest/1"


class HTTPError(Exception):
    """The request did not get a complete response (connection or protocol failure)."""


@dataclass(frozen=True, slots=True)
class HTTPResponse:
    status: int
    headers: dict[str, str]  # lower-case names; repeated headers: the last one
    body: bytes


def client_ssl_context(verify: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class HTTPConnection:
    def __init__(self, host: str, port: int, *, tls: ssl.SSLContext | None = None) -> None:
        self._host, self._port, self._tls = host, port, tls
        self._authority = (
            (host if ":" not in host else f"[{host}]").encode() + b":" + (str(port).encode())
        )
        self._stream: trio.abc.Stream | None = None
        self._conn: h11.Connection | None = None

    async def _connect(self) -> tuple[trio.abc.Stream, h11.Connection]:
        try:
            tcp = await trio.open_tcp_stream(self._host, self._port)
        except OSError as exc:
            raise HTTPError(f"cannot connect to {self._host}:{self._port}: {exc}") from exc
        stream: trio.abc.Stream = tcp
        if self._tls is not None:
            stream = trio.SSLStream(tcp, self._tls, server_hostname=self._host)
        self._stream, self._conn = stream, h11.Connection(h11.CLIENT)
        return stream, self._conn

    async def request(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
    ) -> HTTPResponse:
        stream, conn = (
            (self._stream, self._conn)
            if self._stream is not None and self._conn is not None
            else await self._connect()
        )
        try:
            response = await self._exchange(stream, conn, method, target, headers or [], body)
        except BaseException as exc:
            await self._discard()
            if isinstance(exc, OSError | trio.BrokenResourceError | trio.ClosedResourceError |
                          ssl.SSLError | h11.ProtocolError):  # fmt: skip
                raise HTTPError(f"{type(exc).__name__}: {exc}") from exc
            raise
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        else:
            await self._discard()
        return response

    async def _exchange(
        self,
        stream: trio.abc.Stream,
        conn: h11.Connection,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> HTTPResponse:
        wire_headers = [(b"host", self._authority), (b"user-agent", _USER_AGENT),
                        (b"content-length", str(len(body)).encode())]  # fmt: skip
        wire_headers += [(k.encode(), v.encode()) for k, v in headers]
        out = conn.send(h11.Request(method=method, target=target, headers=wire_headers)) or b""
        if body:
            out += conn.send(h11.Data(data=body)) or b""
        out += conn.send(h11.EndOfMessage()) or b""
        await stream.send_all(out)
        status = 0
        resp_headers: dict[str, str] = {}
        chunks: list[bytes] = []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                # b"" at end of stream tells h11 the peer closed
                conn.receive_data(bytes(await stream.receive_some(_RECV)))
            elif isinstance(event, h11.InformationalResponse):
                continue
            elif isinstance(event, h11.Response):
                status = event.status_code
                resp_headers = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return HTTPResponse(status, resp_headers, b"".join(chunks))
            elif isinstance(event, h11.ConnectionClosed):
                raise HTTPError("connection closed before the response was complete")
            else:  # h11.PAUSED cannot happen for a client that reads one response
                raise HTTPError(f"unexpected HTTP event {event!r}")

    async def _discard(self) -> None:
        stream, self._stream, self._conn = self._stream, None, None
        if stream is not None:
            # bounded by design: aclose_forcefully does not wait for the peer
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(stream)

    async def aclose(self) -> None:
        await self._discard()
