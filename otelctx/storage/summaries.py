"""Trace summaries from spans: pure, shared by every backend.

A summary row per (tenant, trace) is merged as spans arrive in any order, possibly
across many batches. The merge is commutative, so backends apply it in SQL
(``ON CONFLICT ... DO UPDATE``) with the same rules as ``merge``:

- start is the minimum, end the maximum; span and error counts add up;
- status only upgrades (UNSET < OK < ERROR);
- the root is the span without a parent (an entry span) if one has been seen,
  otherwise the earliest span so far; between two candidates of the same kind the
  earlier one wins.

Counts add up, so callers must only summarise spans that were actually inserted
(not duplicates of stored spans): that keeps span writes idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from otelctx.model import SpanRecord, StatusCode


@dataclass(slots=True)  # not frozen: one per span on the write path (see model.py)
class SummaryDelta:
    tenant_id: str
    trace_id: str
    root_service: str
    root_operation: str
    root_is_entry: bool
    root_start: int
    start_time: int
    end_time: int
    span_count: int
    error_count: int
    status_code: StatusCode

    def root_key(self) -> tuple[int, int]:
        # smaller wins: entry spans first, then the earliest start
        return (0 if self.root_is_entry else 1, self.root_start)


def delta_of(span: SpanRecord) -> SummaryDelta:
    return SummaryDelta(
        tenant_id=span.tenant_id,
        trace_id=span.trace_id,
        root_service=span.service_name,
        root_operation=span.name,
        root_is_entry=not span.parent_span_id,
        root_start=span.start_time_unix_nano,
        start_time=span.start_time_unix_nano,
        end_time=span.end_time_unix_nano,
        span_count=1,
        error_count=1 if span.status_code is StatusCode.ERROR else 0,
        status_code=span.status_code,
    )


def merge(a: SummaryDelta, b: SummaryDelta) -> SummaryDelta:
    root = a if a.root_key() <= b.root_key() else b
    return SummaryDelta(
        tenant_id=a.tenant_id,
        trace_id=a.trace_id,
        root_service=root.root_service,
        root_operation=root.root_operation,
        root_is_entry=root.root_is_entry,
        root_start=root.root_start,
        start_time=min(a.start_time, b.start_time),
        end_time=max(a.end_time, b.end_time),
        span_count=a.span_count + b.span_count,
        error_count=a.error_count + b.error_count,
        status_code=max(a.status_code, b.status_code),
    )


def summarize(spans: Iterable[SpanRecord]) -> list[SummaryDelta]:
    """One delta per (tenant, trace) of ``spans``, in first-seen order.

    Equivalent to folding ``delta_of`` with ``merge``, but a trace's first span costs
    one delta and further spans update it in place (this runs once per stored span).
    """
    out: dict[tuple[str, str], SummaryDelta] = {}
    error = StatusCode.ERROR
    for span in spans:
        key = (span.tenant_id, span.trace_id)
        acc = out.get(key)
        if acc is None:
            out[key] = delta_of(span)
            continue
        start = span.start_time_unix_nano
        entry = not span.parent_span_id
        if (0 if entry else 1, start) < acc.root_key():
            acc.root_service = span.service_name
            acc.root_operation = span.name
            acc.root_is_entry = entry
            acc.root_start = start
        if start < acc.start_time:
            acc.start_time = start
        if span.end_time_unix_nano > acc.end_time:
            acc.end_time = span.end_time_unix_nano
        acc.span_count += 1
        if span.status_code is error:
            acc.error_count += 1
        if span.status_code > acc.status_code:
            acc.status_code = span.status_code
    return list(out.values())
