"""Outcomes of an export that are not a plain success, as the transports map them.

    ExportError
    ├── ExportRefused      overload, shutdown, database unavailable: retryable
    │                      (gRPC UNAVAILABLE + RetryInfo, HTTP 503 + Retry-After)
    └── ExportFailed       the database rejected the batch for another reason:
                           not retryable as is (gRPC INTERNAL, HTTP 500)

Undecodable bodies and size limits are the otlp package's DecodeError and PayloadTooLarge.
"""

from __future__ import annotations


class ExportError(Exception):
    pass


class ExportRefused(ExportError):
    def __init__(self, message: str, retry_after_s: float, reason: str) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.reason = reason


class ExportFailed(ExportError):
    pass
