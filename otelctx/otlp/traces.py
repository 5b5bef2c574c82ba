"""Parsed ``ExportTraceServiceRequest`` → ``SpanRecord`` rows (the ingest hot path).

Everything the model holds is kept: ids as lowercase hex (parent ``""`` when empty),
kind, status code and message, trace_state, attributes, resource, scope, events and
links. Invalid spans are tallied, not raised: trace_id must be 16 non-zero bytes,
span_id 8 non-zero bytes, parent_span_id empty or 8 bytes, the name non-empty, kind and
status code known enum values.

Speed: one combined validity test per span (the reason is worked out only for the
rare invalid span); resource and scope converted once and shared by their spans;
records built with positional arguments (a frozen dataclass's keyword call costs more).
The shared ``resource`` dict and ``Scope`` must be treated as read-only downstream.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from otelctx.model import SpanEvent, SpanKind, SpanLink, SpanRecord, StatusCode
from otelctx.otlp.policy import IngestPolicy
from otelctx.otlp.tally import MAX_TIME, TIME_PROBLEM, Tally, admit
from otelctx.otlp.values import AttributeCache

_ZERO_TRACE_ID = bytes(16)
_ZERO_SPAN_ID = bytes(8)
_KINDS = {kind.value: kind for kind in SpanKind}
_STATUS_CODES = {code.value: code for code in StatusCode}


def spans_from(request: Any, policy: IngestPolicy, tally: Tally) -> list[SpanRecord]:
    """``request`` is a ``schema.REQUEST_CLASSES[Signal.TRACES]`` message."""
    records: list[SpanRecord] = []
    append = records.append
    kinds = _KINDS.get
    codes = _STATUS_CODES.get
    cache = AttributeCache()
    pair = cache.__getitem__
    for resource_spans in request.resource_spans:
        resource = dict(map(pair, resource_spans.resource.attributes))
        scope_spans_list = resource_spans.scope_spans
        admitted = admit(policy, resource, tally, partial(_span_count, scope_spans_list))
        if admitted is None:
            continue
        tenant, service = admitted
        for scope_spans in scope_spans_list:
            scope = cache.scope(scope_spans.scope)
            for span in scope_spans.spans:
                trace_id: bytes = span.trace_id
                span_id: bytes = span.span_id
                parent_id: bytes = span.parent_span_id
                name: str = span.name
                status = span.status
                kind = kinds(span.kind)
                code = codes(status.code)
                start: int = span.start_time_unix_nano
                end: int = span.end_time_unix_nano
                if (
                    len(trace_id) != 16
                    or len(span_id) != 8
                    or (parent_id and len(parent_id) != 8)
                    or not name
                    or kind is None
                    or code is None
                    or trace_id == _ZERO_TRACE_ID
                    or span_id == _ZERO_SPAN_ID
                    or start > MAX_TIME
                    or end > MAX_TIME
                ):
                    tally.reject(1, _problem(span))
                    continue
                events = span.events
                links = span.links
                append(
                    SpanRecord(  # positional, in model field order
                        tenant,
                        trace_id.hex(),
                        span_id.hex(),
                        parent_id.hex(),
                        service,
                        name,
                        kind,
                        start,
                        end,
                        code,
                        status.message,
                        span.trace_state,
                        dict(map(pair, span.attributes)),
                        resource,
                        scope,
                        tuple(
                            [
                                SpanEvent(e.time_unix_nano, e.name, dict(map(pair, e.attributes)))
                                for e in events
                            ]
                        )
                        if events
                        else (),
                        tuple(
                            [
                                SpanLink(
                                    link.trace_id.hex(),
                                    link.span_id.hex(),
                                    link.trace_state,
                                    dict(map(pair, link.attributes)),
                                )
                                for link in links
                            ]
                        )
                        if links
                        else (),
                    )
                )
    return records


def _span_count(scope_spans_list: Iterable[Any]) -> int:
    return sum(len(scope_spans.spans) for scope_spans in scope_spans_list)


def _problem(span: Any) -> str:
    """Why ``span`` failed the combined test in ``spans_from`` (first failing rule)."""
    trace_id: bytes = span.trace_id
    span_id: bytes = span.span_id
    parent_id: bytes = span.parent_span_id
    kind: int = span.kind
    code: int = span.status.code
    if len(trace_id) != 16:
        return f"trace_id must be 16 bytes (got {len(trace_id)})"
    if trace_id == _ZERO_TRACE_ID:
        return "trace_id must not be all zeros"
    if len(span_id) != 8:
        return f"span_id must be 8 bytes (got {len(span_id)})"
    if span_id == _ZERO_SPAN_ID:
        return "span_id must not be all zeros"
    if parent_id and len(parent_id) != 8:
        return f"parent_span_id must be empty or 8 bytes (got {len(parent_id)})"
    if kind not in _KINDS:
        return f"span kind {kind} is not a SpanKind"
    if code not in _STATUS_CODES:
        return f"status code {code} is not a Status.StatusCode"
    if max(span.start_time_unix_nano, span.end_time_unix_nano) > MAX_TIME:
        return TIME_PROBLEM
    return "span name is empty"
