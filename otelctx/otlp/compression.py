"""Content-Encoding handling for OTLP request bodies.

``decompress`` never holds more than ``max_bytes + 1`` bytes of output (plus the final
join when a gzip body has several members): zlib is driven with ``max_length`` so a
compression bomb is refused as soon as it crosses the limit instead of being inflated
first. Input is fed in 64 KiB pieces and a body may hold at most ``MAX_GZIP_MEMBERS``
gzip members, so a body of many tiny members cannot make it copy quadratically.

Error handling: an unknown encoding raises ``UnsupportedEncoding`` (HTTP 415), a corrupt
or truncated stream ``DecodeError`` (HTTP 400), too much output ``PayloadTooLarge``
(HTTP 413).
"""

from __future__ import annotations

import zlib

from otelctx.otlp.errors import DecodeError, PayloadTooLarge

_GZIP_WBITS = 16 + zlib.MAX_WBITS
_ZLIB_WBITS = zlib.MAX_WBITS
_RAW_WBITS = -zlib.MAX_WBITS
_INPUT_PIECE = 64 * 1024
MAX_GZIP_MEMBERS = 1000


class UnsupportedEncoding(DecodeError):
    """A Content-Encoding other than identity, gzip or deflate."""

    def __init__(self, encoding: str) -> None:
        shown = encoding if len(encoding) <= 40 else encoding[:40] + "…"
        super().__init__(f"unsupported Content-Encoding {shown!r}; use gzip, deflate or identity")
        self.encoding = encoding


def decompress(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """Return ``body`` decoded per ``content_encoding`` (case-insensitive, trimmed).

    Supports absent/``identity``, ``gzip`` (several concatenated members too) and
    ``deflate`` (zlib-wrapped as RFC 9110 says, or raw deflate as some clients send).
    An empty body stays empty whatever the encoding.
    """
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        if len(body) > max_bytes:
            raise PayloadTooLarge(max_bytes)
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise UnsupportedEncoding(encoding)
    if not body:
        return b""
    if encoding == "deflate":
        try:
            return _inflate(body, _ZLIB_WBITS, max_bytes, "deflate")
        except DecodeError:
            # Not zlib-wrapped: accept a raw deflate stream as well.
            return _inflate(body, _RAW_WBITS, max_bytes, "deflate")
    return _inflate(body, _GZIP_WBITS, max_bytes, "gzip")


def _inflate(body: bytes, wbits: int, max_bytes: int, name: str) -> bytes:
    view = memoryview(body)
    end = len(body)
    chunks: list[bytes] = []
    total = 0
    offset = 0
    members = 0
    try:
        while True:
            members += 1
            if members > MAX_GZIP_MEMBERS:
                raise DecodeError(f"request body has more than {MAX_GZIP_MEMBERS} gzip members")
            stream = zlib.decompressobj(wbits)
            while not stream.eof:
                if offset >= end:
                    raise DecodeError(f"request body is a truncated {name} stream")
                # Bounded pieces: at the end of a member zlib copies the rest of its input.
                piece = view[offset : offset + _INPUT_PIECE]
                offset += len(piece)
                # One byte over the budget tells "exactly at the limit" from "over". Unless
                # that raises, zlib has used the whole piece, so nothing is left pending.
                chunk = stream.decompress(piece, max_bytes - total + 1)
                if chunk:
                    total += len(chunk)
                    if total > max_bytes:
                        raise PayloadTooLarge(max_bytes)
                    chunks.append(chunk)
            offset -= len(stream.unused_data)
            if offset == end or (body[offset] == 0 and body.count(0, offset) == end - offset):
                break  # done, or zero padding after the stream (gzip(1) accepts that too)
            if wbits != _GZIP_WBITS:
                raise DecodeError(f"request body has data after the end of the {name} stream")
            # Another gzip member follows (e.g. `cat a.gz b.gz`).
    except zlib.error as exc:
        raise DecodeError(f"request body is not valid {name}: {exc}") from exc
    if len(chunks) == 1:
        return chunks[0]
    return b"".join(chunks)
