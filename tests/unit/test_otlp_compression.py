"""Content-Encoding handling: gzip/deflate/identity, size limits, bombs, corrupt streams."""

from __future__ import annotations

import contextlib
import gzip
import os
import time
import tracemalloc
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otelctx.otlp import DecodeError, PayloadTooLarge, UnsupportedEncoding, decompress
from otelctx.otlp.compression import MAX_GZIP_MEMBERS

MiB = 1024 * 1024
DATA = b"OTLP payload " * 1000


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize("encoding", [None, "", "identity", " Identity "])
def test_identity(encoding: str | None) -> None:
    assert decompress(DATA, encoding, len(DATA)) == DATA


@pytest.mark.parametrize("encoding", ["gzip", "GZIP", " gzip ", "x-gzip"])
def test_gzip(encoding: str) -> None:
    assert decompress(gzip.compress(DATA), encoding, len(DATA)) == DATA


@pytest.mark.parametrize(
    "body", [zlib.compress(DATA), raw_deflate(DATA)], ids=["zlib-wrapped", "raw"]
)
def test_deflate_zlib_wrapped_and_raw(body: bytes) -> None:
    assert decompress(body, "Deflate", len(DATA)) == DATA


def test_concatenated_gzip_members_and_zero_padding() -> None:
    body = gzip.compress(b"first ") + gzip.compress(b"second") + b"\x00" * 8
    assert decompress(body, "gzip", 100) == b"first second"


def test_members_spanning_many_input_pieces() -> None:
    first, second = os.urandom(300_000), os.urandom(200_000)  # incompressible: big members
    body = gzip.compress(first) + gzip.compress(second)
    assert decompress(body, "gzip", 500_000) == first + second


def test_member_count_is_bounded_so_tiny_members_cannot_burn_cpu() -> None:
    member = gzip.compress(b"x")
    assert decompress(member * MAX_GZIP_MEMBERS, "gzip", 10_000) == b"x" * MAX_GZIP_MEMBERS
    empty_members = gzip.compress(b"") * 200_000  # ~4 MiB of 20-byte members
    started = time.monotonic()
    with pytest.raises(DecodeError, match=f"more than {MAX_GZIP_MEMBERS} gzip members"):
        decompress(empty_members, "gzip", 10_000)
    assert time.monotonic() - started < 1.0


def test_empty_body_stays_empty() -> None:
    assert decompress(b"", "gzip", 10) == b""
    assert decompress(b"", "deflate", 10) == b""


def test_unsupported_encoding_is_a_decode_error_subclass() -> None:
    with pytest.raises(UnsupportedEncoding, match="'br'") as caught:
        decompress(b"x", "br", 10)
    assert isinstance(caught.value, DecodeError)
    assert caught.value.encoding == "br"


@pytest.mark.parametrize(
    ("body", "encoding", "match"),
    [
        (b"definitely not gzip", "gzip", "not valid gzip"),
        (gzip.compress(DATA)[:-12], "gzip", "truncated gzip"),
        (gzip.compress(DATA)[:30], "gzip", "truncated gzip"),
        (gzip.compress(DATA) + b"trailing junk", "gzip", "not valid gzip"),
        (zlib.compress(DATA) + b"junk", "deflate", "deflate"),
        (b"\xff\xfe\xfd", "deflate", "not valid deflate"),
    ],
)
def test_corrupt_streams(body: bytes, encoding: str, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        decompress(body, encoding, 10 * MiB)


def test_gzip_with_bad_crc() -> None:
    body = bytearray(gzip.compress(DATA))
    body[-8] ^= 0xFF
    with pytest.raises(DecodeError):
        decompress(bytes(body), "gzip", 10 * MiB)


def test_limit_is_inclusive() -> None:
    assert decompress(DATA, None, len(DATA)) == DATA
    assert decompress(gzip.compress(DATA), "gzip", len(DATA)) == DATA
    with pytest.raises(PayloadTooLarge) as caught:
        decompress(DATA, None, len(DATA) - 1)
    assert caught.value.limit == len(DATA) - 1
    with pytest.raises(PayloadTooLarge):
        decompress(gzip.compress(DATA), "gzip", len(DATA) - 1)
    with pytest.raises(PayloadTooLarge):
        decompress(zlib.compress(DATA), "deflate", len(DATA) - 1)


def test_limit_counts_all_gzip_members() -> None:
    body = gzip.compress(b"a" * 600) + gzip.compress(b"b" * 600)
    with pytest.raises(PayloadTooLarge):
        decompress(body, "gzip", 1000)


def _bomb(size: int) -> bytes:
    """``size`` zero bytes, gzip-compressed without ever holding them in memory."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(MiB)
    parts = [compressor.compress(chunk) for _ in range(size // MiB)]
    return b"".join(parts) + compressor.flush()


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_bomb_is_refused_quickly_without_inflating_it(encoding: str) -> None:
    bomb = _bomb(100 * MiB)
    if encoding == "deflate":  # same zeros, zlib-wrapped
        compressor = zlib.compressobj(9)
        bomb = b"".join(compressor.compress(bytes(MiB)) for _ in range(100)) + compressor.flush()
    assert len(bomb) < 200 * 1024
    limit = 4 * MiB
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(PayloadTooLarge):
            decompress(bomb, encoding, limit)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 2.0
    assert peak < 2 * limit + MiB, f"peak allocation {peak} bytes"


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=300), encoding=st.sampled_from(["gzip", "deflate"]))
def test_arbitrary_bytes_raise_only_decode_error_or_too_large(body: bytes, encoding: str) -> None:
    with contextlib.suppress(DecodeError, PayloadTooLarge):
        decompress(body, encoding, 1000)


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=5000),
    encoding=st.sampled_from(["gzip", "deflate", "raw"]),
    limit=st.integers(0, 6000),
)
def test_round_trip_or_too_large(data: bytes, encoding: str, limit: int) -> None:
    if encoding == "gzip":
        body = gzip.compress(data)
    elif encoding == "deflate":
        body = zlib.compress(data)
    else:
        body, encoding = raw_deflate(data), "deflate"
    if len(data) <= limit:
        assert decompress(body, encoding, limit) == data
    else:
        with pytest.raises(PayloadTooLarge):
            decompress(body, encoding, limit)
