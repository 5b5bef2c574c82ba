"""The export path shared by the gRPC and HTTP receivers (trio side).

``Ingest.export`` decodes a request body, applies the per-tenant series limit, admits
the records under the queue bounds, hands them to the writer and waits until they are
committed. It returns only after the commit: that is the durable acknowledgement.

Error handling: DecodeError / PayloadTooLarge come from the otlp package (bad input);
ExportRefused is retryable (queue full, shutting down, database unavailable);
ExportFailed is a non-retryable storage failure. Cancellation while waiting for the
commit (client gone) leaves the submission with the writer: it is still stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import trio

from otelctx.config import Settings
from otelctx.ingest.admission import Admission, Submission
from otelctx.ingest.cardinality import SeriesLimiter
from otelctx.ingest.decoding import Decoder
from otelctx.ingest.errors import ExportFailed, ExportRefused
from otelctx.model import LogRecord, MetricPoint, Signal, SpanRecord
from otelctx.otlp import Decoded, Encoding, IngestPolicy
from otelctx.storage.base import StorageError, StorageUnavailable, WriteBatch
from otelctx.telemetry import Metrics

RETRY_AFTER_OVERLOAD_S = 1.0
RETRY_AFTER_UNAVAILABLE_S = 5.0


@dataclass(frozen=True, slots=True)
class ExportResult:
    accepted: int
    rejected: int
    message: str


class Ingest:
    def __init__(
        self,
        settings: Settings,
        admission: Admission,
        send: trio.MemorySendChannel[Submission],
        metrics: Metrics,
        decoder: Decoder,
    ) -> None:
        self._settings = settings
        self._decoder = decoder
        self.admission = admission
        self._send = send
        self._metrics = metrics
        self._series = SeriesLimiter(settings.metric_max_cardinality)
        self.closed = False

    def policy(self, tenant: str | None) -> IngestPolicy:
        """``tenant``: the API key's bound tenant, else the request's header or metadata,
        else None. When set it wins over the resource attribute ``tenant.id`` (so a key
        bound to a tenant never writes elsewhere); None lets ``tenant.id`` (if trusted) or
        DEFAULT_TENANT decide per resource."""
        s = self._settings
        return IngestPolicy(
            tenant=tenant,
            default_tenant=s.default_tenant,
            trust_resource_tenant=s.trust_resource_tenant,
            min_severity=s.ingest_min_severity,
            allowed_services=s.ingest_allowed_services,
            excluded_services=s.ingest_excluded_services,
        )

    def check_capacity(self, nbytes: int = 0) -> None:
        """Raise ExportRefused before a body is read when the queue is already full."""
        if self.closed:
            raise ExportRefused("otelctx is shutting down; retry", RETRY_AFTER_OVERLOAD_S,
                                "shutdown")  # fmt: skip
        if not self.admission.has_room(nbytes):
            raise ExportRefused(
                "ingest queue is full; retry later", RETRY_AFTER_OVERLOAD_S, "overload"
            )

    async def export(
        self, signal: Signal, body: bytes, encoding: Encoding, tenant: str | None, transport: str
    ) -> ExportResult:
        policy = self.policy(tenant)
        decoded = await self._decoder.decode(signal, body, encoding, policy)
        m = self._metrics
        if decoded.invalid:
            m.rejected.labels(signal.value, "invalid").inc(decoded.invalid)
        if decoded.filtered:
            m.rejected.labels(signal.value, "filtered").inc(decoded.filtered)
        batch = self._batch(signal, decoded)
        if not len(batch):
            return ExportResult(0, decoded.rejected, decoded.message)
        self.check_capacity()
        if not self.admission.try_admit(len(batch), len(body)):
            m.rejected.labels(signal.value, "overload").inc(len(batch))
            raise ExportRefused(
                "ingest queue is full; retry later", RETRY_AFTER_OVERLOAD_S, "overload"
            )
        sub = Submission(batch=batch, nbytes=len(body))
        try:
            self._send.send_nowait(sub)
        except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
            self.admission.release(len(batch), len(body))
            m.rejected.labels(signal.value, "overload").inc(len(batch))
            raise ExportRefused(
                "ingest queue is full or closing; retry", RETRY_AFTER_OVERLOAD_S, "overload"
            ) from None
        await sub.done.wait()
        if sub.error is not None:
            if isinstance(sub.error, StorageUnavailable):
                m.rejected.labels(signal.value, "unavailable").inc(len(batch))
                raise ExportRefused(
                    f"database unavailable; retry later ({sub.error})",
                    RETRY_AFTER_UNAVAILABLE_S, "unavailable",
                )  # fmt: skip
            m.rejected.labels(signal.value, "storage_error").inc(len(batch))
            detail = str(sub.error) if isinstance(sub.error, StorageError) else "internal error"
            raise ExportFailed(f"storage failed: {detail}")
        m.accepted.labels(signal.value, transport).inc(len(batch))
        return ExportResult(len(batch), decoded.rejected, decoded.message)

    def _batch(
        self, signal: Signal, decoded: Decoded[SpanRecord] | Decoded[LogRecord]
        | Decoded[MetricPoint],
    ) -> WriteBatch:  # fmt: skip
        if signal is Signal.TRACES:
            return WriteBatch(spans=decoded.records)  # type: ignore[arg-type]
        if signal is Signal.LOGS:
            return WriteBatch(logs=decoded.records)  # type: ignore[arg-type]
        points, overflowed = self._series.route(decoded.records)  # type: ignore[arg-type]
        if overflowed:
            self._metrics.cardinality_overflow.inc(overflowed)
        return WriteBatch(points=points)
