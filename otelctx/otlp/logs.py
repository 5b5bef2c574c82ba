"""Parsed ``ExportLogsServiceRequest`` → ``LogRecord`` rows.

Kept: severity number and text, a body of any AnyValue type, attributes, resource,
scope, trace/span ids (hex, ``""`` when empty), flags, both timestamps. A record without
``time_unix_nano`` takes its observed time; a record without an observed time is
observed now (we are the collection system). Invalid records (trace_id not empty or 16
bytes, span_id not empty or 8 bytes) are tallied; records below ``min_severity`` are
dropped and tallied under ``INGEST_MIN_SEVERITY``. Shared resource dicts and scopes are
read-only downstream.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from functools import partial
from typing import Any

from otelctx.model import LogRecord
from otelctx.otlp.policy import MIN_SEVERITY_SETTING, IngestPolicy, severity_of
from otelctx.otlp.tally import MAX_TIME, TIME_PROBLEM, Tally, admit
from otelctx.otlp.values import AttributeCache, any_value


def logs_from(request: Any, policy: IngestPolicy, tally: Tally) -> list[LogRecord]:
    """``request`` is a ``schema.REQUEST_CLASSES[Signal.LOGS]`` message."""
    records: list[LogRecord] = []
    append = records.append
    min_severity = policy.min_severity
    now = time.time_ns()
    cache = AttributeCache()
    pair = cache.__getitem__
    for resource_logs in request.resource_logs:
        resource = dict(map(pair, resource_logs.resource.attributes))
        scope_logs_list = resource_logs.scope_logs
        admitted = admit(policy, resource, tally, partial(_record_count, scope_logs_list))
        if admitted is None:
            continue
        tenant, service = admitted
        below_severity = 0
        for scope_logs in scope_logs_list:
            scope = cache.scope(scope_logs.scope)
            for log in scope_logs.log_records:
                trace_id: bytes = log.trace_id
                span_id: bytes = log.span_id
                if (trace_id and len(trace_id) != 16) or (span_id and len(span_id) != 8):
                    tally.reject(1, _problem(trace_id, span_id))
                    continue
                severity_number: int = log.severity_number
                severity_text: str = log.severity_text
                if min_severity > 0 and severity_of(severity_number, severity_text) < min_severity:
                    below_severity += 1
                    continue
                observed: int = log.observed_time_unix_nano or now
                timestamp: int = log.time_unix_nano or observed
                if timestamp > MAX_TIME or observed > MAX_TIME:
                    tally.reject(1, TIME_PROBLEM)
                    continue
                append(
                    LogRecord(  # positional, in model field order
                        tenant,
                        service,
                        timestamp,
                        observed,
                        severity_number,
                        severity_text,
                        any_value(log.body),
                        dict(map(pair, log.attributes)),
                        resource,
                        scope,
                        trace_id.hex(),
                        span_id.hex(),
                        log.flags,
                    )
                )
        tally.drop(below_severity, MIN_SEVERITY_SETTING)
    return records


def _record_count(scope_logs_list: Iterable[Any]) -> int:
    return sum(len(scope_logs.log_records) for scope_logs in scope_logs_list)


def _problem(trace_id: bytes, span_id: bytes) -> str:
    if trace_id and len(trace_id) != 16:
        return f"trace_id must be empty or 16 bytes (got {len(trace_id)})"
    return f"span_id must be empty or 8 bytes (got {len(span_id)})"
