"""Errors raised by the pure OTLP layer.

Hierarchy::

    Exception
    ├── DecodeError            the body cannot be decoded → HTTP 400 / gRPC INVALID_ARGUMENT
    │   └── UnsupportedEncoding   unknown Content-Encoding → HTTP 415 (compression.py)
    └── PayloadTooLarge        over the size limit after decompression → HTTP 413 /
                               gRPC RESOURCE_EXHAUSTED (non-retryable)

The messages are meant for the client that sent the request: they say what was wrong
and never echo more than a few bytes of the request.
"""

from __future__ import annotations


class DecodeError(Exception):
    """The request body cannot be decoded; the message says why."""


class PayloadTooLarge(Exception):
    """The (decompressed) request body is larger than ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"request body exceeds the limit of {limit} bytes after decompression; "
            "send smaller batches"
        )
        self.limit = limit
