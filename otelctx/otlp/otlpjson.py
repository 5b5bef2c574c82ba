"""OTLP/JSON request bodies → the protobuf bytes the binary path decodes.

One mapping, not two: the JSON document is parsed with orjson, the few places where
OTLP/JSON differs from protojson are fixed up in place, ``json_format.ParseDict`` fills
the standard upb message, and its serialization goes through ``decode.py`` exactly as a
protobuf body does. ``ParseDict`` already accepts lowerCamelCase and snake_case keys, enum
names or integers, 64-bit integers as strings or numbers, base64 ``bytesValue`` and
(with ``ignore_unknown_fields``) unknown keys, and reports wrong-typed fields.

What protojson gets wrong for OTLP: trace and span ids are hex strings, not base64.
They are rewritten to base64 before parsing. An item whose id is not valid hex is
removed and reported through ``reject`` (partial success), the rest of the request is
kept. Exemplars are not stored, so they are dropped before parsing.

Error handling: anything that is not a JSON object of the expected shape raises
``DecodeError`` with a message naming the problem.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from google.protobuf import json_format  # type: ignore[import-untyped, unused-ignore]

from otelctx.model import Signal
from otelctx.otlp.errors import DecodeError

Reject = Callable[[int, str], None]
ItemFixer = Callable[[dict[str, Any]], str | None]

_MAX_ERROR_LEN = 300

_ID_KEYS = (("traceId", "trace_id"), ("spanId", "span_id"))
_SPAN_ID_KEYS = (*_ID_KEYS, ("parentSpanId", "parent_span_id"))
_METRIC_DATA_KEYS = (
    "gauge",
    "sum",
    "histogram",
    "exponentialHistogram",
    "exponential_histogram",
    "summary",
)


def to_protobuf(body: bytes, message_type: Any, signal: Signal, reject: Reject) -> bytes:
    """The OTLP/JSON ``body`` as a serialized ``message_type`` (a standard OTLP class)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"request body is not valid JSON: {_short(str(exc))}") from None
    if not isinstance(document, dict):
        raise DecodeError(
            f"request body must be a JSON object (OTLP/JSON {message_type.__name__}), "
            f"got {_json_type(document)}"
        )
    _FIXERS[signal](document, reject)
    message = message_type()
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise DecodeError(
            f"request body is not a valid OTLP/JSON {message_type.__name__}: {_short(str(exc))}"
        ) from None
    serialized: bytes = message.SerializeToString()
    return serialized


def _fix_traces(document: dict[str, Any], reject: Reject) -> None:
    path = (("resourceSpans", "resource_spans"), ("scopeSpans", "scope_spans"), ("spans",))
    _filter_items(document, path, _fix_span, reject)


def _fix_logs(document: dict[str, Any], reject: Reject) -> None:
    path = (
        ("resourceLogs", "resource_logs"),
        ("scopeLogs", "scope_logs"),
        ("logRecords", "log_records"),
    )
    _filter_items(document, path, _fix_log, reject)


def _fix_metrics(document: dict[str, Any], reject: Reject) -> None:
    path = (
        ("resourceMetrics", "resource_metrics"),
        ("scopeMetrics", "scope_metrics"),
        ("metrics",),
    )
    for metrics in _innermost_lists(document, path):
        for metric in metrics:
            if isinstance(metric, dict):
                _drop_exemplars(metric)


_FIXERS: dict[Signal, Callable[[dict[str, Any], Reject], None]] = {
    Signal.TRACES: _fix_traces,
    Signal.LOGS: _fix_logs,
    Signal.METRICS: _fix_metrics,
}


def _fix_span(span: dict[str, Any]) -> str | None:
    for keys in _SPAN_ID_KEYS:
        problem = _hex_to_base64(span, keys)
        if problem:
            return problem
    links = _get(span, ("links",))
    if isinstance(links, list):
        for link in links:
            if isinstance(link, dict):
                for keys in _ID_KEYS:
                    problem = _hex_to_base64(link, keys)
                    if problem:
                        return f"link {problem}"
    return None


def _fix_log(record: dict[str, Any]) -> str | None:
    for keys in _ID_KEYS:
        problem = _hex_to_base64(record, keys)
        if problem:
            return problem
    return None


def _drop_exemplars(metric: dict[str, Any]) -> None:
    for key in _METRIC_DATA_KEYS:
        data = metric.get(key)
        if isinstance(data, dict):
            points = _get(data, ("dataPoints", "data_points"))
            if isinstance(points, list):
                for point in points:
                    if isinstance(point, dict):
                        point.pop("exemplars", None)


def _filter_items(
    document: dict[str, Any], path: tuple[tuple[str, ...], ...], fix: ItemFixer, reject: Reject
) -> None:
    for items in _innermost_lists(document, path):
        kept = []
        for item in items:
            problem = fix(item) if isinstance(item, dict) else None
            if problem is None:
                kept.append(item)  # wrong-typed items are left for ParseDict to report
            else:
                reject(1, problem)
        if len(kept) != len(items):
            items[:] = kept


def _innermost_lists(
    document: dict[str, Any], path: tuple[tuple[str, ...], ...]
) -> Iterator[list[Any]]:
    """Yield the lists at the end of ``path``, skipping anything of the wrong type."""
    level: list[dict[str, Any]] = [document]
    for depth, keys in enumerate(path):
        found: list[Any] = []
        for node in level:
            value = _get(node, keys)
            if isinstance(value, list):
                if depth == len(path) - 1:
                    yield value
                else:
                    found.extend(item for item in value if isinstance(item, dict))
        level = found


def _get(node: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in node:
            return node[key]
    return None


def _hex_to_base64(node: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    """Rewrite the hex id under one of ``keys`` to base64; a problem text if it is not hex."""
    for key in keys:
        value = node.get(key)
        if isinstance(value, str):
            try:
                raw = bytes.fromhex(value)
            except ValueError:
                raw = None
            # bytes.fromhex skips whitespace between bytes; an OTLP id has none.
            if raw is None or len(raw) * 2 != len(value):
                return f"{keys[-1]} is not a hex string"
            node[key] = base64.b64encode(raw).decode("ascii")
    return None


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"


def _short(text: str) -> str:
    return text if len(text) <= _MAX_ERROR_LEN else text[:_MAX_ERROR_LEN] + "…"
