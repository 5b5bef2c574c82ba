"""Content-Encoding handling for OTLP request bodies.

``decompress`` never holds more than ``max_bytes + 1`` bytes of output from one stream
(plus the final join when a gzip body has several members): zlib is driven with
``max_length`` so a compression bomb is refused as soon as it crosses the limit instead
of being inflated first.

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
    chunks: list[bytes] = []
    total = 0
    data = body
    stream = zlib.decompressobj(wbits)
    try:
        while True:
            # Asking for one byte more than allowed tells "exactly at the limit" from "over".
            chunk = stream.decompress(data, max_bytes - total + 1)
            if chunk:
                total += len(chunk)
                if total > max_bytes:
                    raise PayloadTooLarge(max_bytes)
                chunks.append(chunk)
            if stream.eof:
                rest = stream.unused_data
                if not rest.strip(b"\x00"):  # gzip(1) tolerates zero padding too
                    break
                if wbits != _GZIP_WBITS:
                    raise DecodeError(f"request body has data after the end of the {name} stream")
                # Another gzip member follows (e.g. `cat a.gz b.gz`).
                stream = zlib.decompressobj(wbits)
                data = rest
                continue
            data = stream.unconsumed_tail
            if not data and not chunk:
                raise DecodeError(f"request body is a truncated {name} stream")
    except zlib.error as exc:
        raise DecodeError(f"request body is not valid {name}: {exc}") from exc
    if len(chunks) == 1:
        return chunks[0]
    return b"".join(chunks)
