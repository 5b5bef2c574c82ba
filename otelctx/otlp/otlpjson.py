"""OTLP/JSON request bodies → protobuf wire bytes, which ``decode.py`` then decodes exactly
as it decodes a protobuf body. One record mapping, not two.

The conversion is driven by the OTLP message descriptors (no per-message code) and
follows the OTLP/JSON rules of the specification:

- keys are lowerCamelCase, the original snake_case names are accepted too, unknown keys
  and ``null`` values are ignored;
- ``traceId``/``spanId``/``parentSpanId`` (every bytes field named ``*_id``) are hex
  strings, not base64 as protojson would have them; other bytes are base64;
- enums are integers or their names (an unknown name is ignored, as protojson does with
  unknown fields ignored);
- 64-bit integers are JSON numbers or decimal strings; doubles may be numbers, numeric
  strings, ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``.

``json_format.ParseDict`` (with the ids fixed up) gives the same message, and the tests
check that it does, but it is ~4.5x slower (measured on a 512-span request with ten
attributes per span: 91 ms against 19 ms), and this runs on the event-loop thread.

Error handling: a body that is not JSON, not an object, or has a value of the wrong
type for its field raises ``DecodeError`` naming the field. An item (span, log record)
with an id that is not hex is left out and reported through ``reject``; the rest of the
request is kept. Exemplars are not stored, so they are skipped.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
from collections.abc import Callable
from typing import Any

import orjson
from google.protobuf.descriptor import FieldDescriptor
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelctx.model import Signal
from otelctx.otlp.errors import DecodeError

Reject = Callable[[int, str], None]

MAX_DEPTH = 100  # as upb and json_format
_ITEMS = frozenset(("opentelemetry.proto.trace.v1.Span", "opentelemetry.proto.logs.v1.LogRecord"))
_SKIPPED = frozenset(("exemplars",))
_DECIMAL = re.compile(r"-?[0-9]+")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_SPECIAL_DOUBLES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_pack_double = struct.Struct("<d").pack
_pack_float = struct.Struct("<f").pack
_pack_fixed64 = struct.Struct("<Q").pack
_pack_sfixed64 = struct.Struct("<q").pack
_pack_fixed32 = struct.Struct("<I").pack
_pack_sfixed32 = struct.Struct("<i").pack

_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


class _InvalidItem(Exception):
    """An id that is not hex: the enclosing span or log record is rejected."""


class _Context:
    __slots__ = ("reject",)

    def __init__(self, reject: Reject) -> None:
        self.reject = reject


Writer = Callable[[bytearray, "_Field", Any, _Context, int], None]


class _Field:
    """How to write one field: its tag, a writer for its type, and what the JSON must be."""

    __slots__ = (
        "enum_values",
        "expected",
        "item",
        "message",
        "name",
        "owner",
        "repeated",
        "tag",
        "write",
    )

    def __init__(self, owner: str, name: str, tag: bytes, write: Writer, expected: str) -> None:
        self.owner = owner
        self.name = name
        self.tag = tag
        self.write = write
        self.expected = expected
        self.repeated = False
        self.item = False  # a span or log record: an invalid id rejects just this element
        self.message: _Message | None = None
        self.enum_values: dict[str, int] = {}


class _Message:
    __slots__ = ("fields", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.fields: dict[str, _Field] = {}


def to_protobuf(body: bytes, signal: Signal, reject: Reject) -> bytes:
    """The OTLP/JSON ``body`` of a ``signal`` export request as protobuf bytes."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"request body is not valid JSON: {exc}") from None
    root = _ROOTS[signal]
    if not isinstance(document, dict):
        raise DecodeError(
            f"request body must be a JSON object (OTLP/JSON {root.name}), got {_kind(document)}"
        )
    try:
        return bytes(_encode(root, document, _Context(reject), 0))
    except _InvalidItem as exc:  # an id outside any span or log record
        raise DecodeError(str(exc)) from None


def _encode(
    message: _Message, document: dict[str, Any], context: _Context, depth: int
) -> bytearray:
    if depth >= MAX_DEPTH:
        raise DecodeError(f"request body nests messages deeper than {MAX_DEPTH} levels")
    out = bytearray()
    fields = message.fields
    for key, value in document.items():
        field = fields.get(key)
        if field is None or value is None:
            continue
        if not field.repeated:
            field.write(out, field, value, context, depth)
        elif not isinstance(value, list):
            raise _wrong_type(field, value, "a list")
        elif field.item:
            write = field.write
            for element in value:
                try:
                    write(out, field, element, context, depth)
                except _InvalidItem as exc:
                    context.reject(1, str(exc))
        else:
            write = field.write
            for element in value:
                write(out, field, element, context, depth)
    return out


def _wrong_type(field: _Field, value: Any, expected: str | None = None) -> DecodeError:
    return DecodeError(
        f"request body is not valid OTLP/JSON: {field.owner}.{field.name} must be "
        f"{expected or field.expected}, got {_kind(value)}"
    )


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "null"


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL[value]
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL = [bytes([n]) for n in range(0x80)]


def _write_length_delimited(out: bytearray, field: _Field, data: bytes | bytearray) -> None:
    out += field.tag
    out += _varint(len(data))
    out += data


# --------------------------------------------------------------------------- field writers


def _write_message(
    out: bytearray, field: _Field, value: Any, context: _Context, depth: int
) -> None:
    if not isinstance(value, dict):
        raise _wrong_type(field, value)
    assert field.message is not None
    _write_length_delimited(out, field, _encode(field.message, value, context, depth + 1))


def _write_string(out: bytearray, field: _Field, value: Any, context: _Context, depth: int) -> None:
    if not isinstance(value, str):
        raise _wrong_type(field, value)
    _write_length_delimited(out, field, value.encode())


def _write_bytes(out: bytearray, field: _Field, value: Any, context: _Context, depth: int) -> None:
    if not isinstance(value, str):
        raise _wrong_type(field, value)
    text = value.replace("-", "+").replace("_", "/")  # protojson accepts URL-safe base64 too
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise _wrong_type(field, value, "base64 text") from None
    _write_length_delimited(out, field, data)


def _write_hex_id(out: bytearray, field: _Field, value: Any, context: _Context, depth: int) -> None:
    if not isinstance(value, str):
        raise _wrong_type(field, value)
    try:
        data = bytes.fromhex(value)
    except ValueError:
        data = None
    # bytes.fromhex skips whitespace between bytes; an OTLP id has none.
    if data is None or len(data) * 2 != len(value):
        raise _InvalidItem(f"{field.expected} is not a hex string")
    _write_length_delimited(out, field, data)


def _write_bool(out: bytearray, field: _Field, value: Any, context: _Context, depth: int) -> None:
    if not isinstance(value, bool):
        raise _wrong_type(field, value)
    out += field.tag
    out += b"\x01" if value else b"\x00"


def _integer(field: _Field, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise _wrong_type(field, value)
    if isinstance(value, int):
        number = value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and _DECIMAL.fullmatch(value)
    ):
        number = int(value)
    else:
        raise _wrong_type(field, value)
    if not low <= number <= high:
        raise _wrong_type(field, value, f"{field.expected} in [{low}, {high}]")
    return number


def _integer_writer(low: int, high: int, encode: Callable[[int], bytes]) -> Writer:
    def write(out: bytearray, field: _Field, value: Any, context: _Context, depth: int) -> None:
        out += field.tag
        out += encode(_integer(field, value, low, high))

    return write


def _write_enum(out: bytearray, field: _Field, value: Any, context: _Context, depth: int) -> None:
    if isinstance(value, str):
        number = field.enum_values.get(value)
        if number is None:
            return  # unknown enum name: ignored like an unknown field
    else:
        number = _integer(field, value, -(2**31), 2**31 - 1)
    out += field.tag
    out += _varint(number & 0xFFFFFFFFFFFFFFFF)


def _double(field: _Field, value: Any) -> float:
    if isinstance(value, bool):
        raise _wrong_type(field, value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        special = _SPECIAL_DOUBLES.get(value)
        if special is not None:
            return special
        if _FLOAT.fullmatch(value):
            number = float(value)
            if math.isfinite(number):
                return number
    raise _wrong_type(field, value)


def _write_double(out: bytearray, field: _Field, value: Any, context: _Context, depth: int) -> None:
    out += field.tag
    out += _pack_double(_double(field, value))


def _write_float(out: bytearray, field: _Field, value: Any, context: _Context, depth: int) -> None:
    out += field.tag
    try:
        out += _pack_float(_double(field, value))
    except OverflowError:
        raise _wrong_type(field, value, "a 32-bit float") from None


def _zigzag(number: int) -> bytes:
    return _varint((number << 1) ^ (number >> 63))


_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_UINT32 = (0, 2**32 - 1)
_UINT64 = (0, 2**64 - 1)


def _signed_varint(number: int) -> bytes:
    return _varint(number & 0xFFFFFFFFFFFFFFFF)


_T = FieldDescriptor
# type → (writer, wire type, what the JSON value must be)
_SCALARS: dict[int, tuple[Writer, int, str]] = {
    _T.TYPE_STRING: (_write_string, _LENGTH, "a string"),
    _T.TYPE_BYTES: (_write_bytes, _LENGTH, "base64 text"),
    _T.TYPE_BOOL: (_write_bool, _VARINT, "a boolean"),
    _T.TYPE_DOUBLE: (_write_double, _FIXED64, "a number"),
    _T.TYPE_FLOAT: (_write_float, _FIXED32, "a number"),
    _T.TYPE_ENUM: (_write_enum, _VARINT, "an enum number or name"),
    _T.TYPE_INT32: (_integer_writer(*_INT32, _signed_varint), _VARINT, "an int32"),
    _T.TYPE_INT64: (_integer_writer(*_INT64, _signed_varint), _VARINT, "an int64"),
    _T.TYPE_UINT32: (_integer_writer(*_UINT32, _varint), _VARINT, "a uint32"),
    _T.TYPE_UINT64: (_integer_writer(*_UINT64, _varint), _VARINT, "a uint64"),
    _T.TYPE_SINT32: (_integer_writer(*_INT32, _zigzag), _VARINT, "an int32"),
    _T.TYPE_SINT64: (_integer_writer(*_INT64, _zigzag), _VARINT, "an int64"),
    _T.TYPE_FIXED32: (_integer_writer(*_UINT32, _pack_fixed32), _FIXED32, "a uint32"),
    _T.TYPE_FIXED64: (_integer_writer(*_UINT64, _pack_fixed64), _FIXED64, "a uint64"),
    _T.TYPE_SFIXED32: (_integer_writer(*_INT32, _pack_sfixed32), _FIXED32, "an int32"),
    _T.TYPE_SFIXED64: (_integer_writer(*_INT64, _pack_sfixed64), _FIXED64, "an int64"),
}

# --------------------------------------------------------------------------- schema tables


def _build(descriptor: Any, built: dict[str, _Message]) -> _Message:
    existing = built.get(descriptor.full_name)
    if existing is not None:
        return existing
    message = _Message(descriptor.name)
    built[descriptor.full_name] = message
    for field in descriptor.fields:
        if field.name in _SKIPPED:
            continue
        write: Writer
        tag_wire: int
        if field.type == _T.TYPE_MESSAGE:
            write, tag_wire, expected = _write_message, _LENGTH, "an object"
        elif field.type == _T.TYPE_BYTES and field.name.endswith("_id"):
            write, tag_wire, expected = _write_hex_id, _LENGTH, field.name
            if descriptor.full_name not in _ITEMS:
                expected = f"{descriptor.name.lower()} {field.name}"
        else:
            write, tag_wire, expected = _SCALARS[field.type]
        tag = _varint(field.number << 3 | tag_wire)
        spec = _Field(descriptor.name, field.json_name, tag, write, expected)
        spec.repeated = bool(field.is_repeated)
        if field.type == _T.TYPE_MESSAGE:
            spec.message = _build(field.message_type, built)
            spec.item = field.message_type.full_name in _ITEMS
        if field.type == _T.TYPE_ENUM:
            spec.enum_values = {value.name: value.number for value in field.enum_type.values}
        message.fields[field.json_name] = spec
        message.fields[field.name] = spec
    return message


_BUILT: dict[str, _Message] = {}
_ROOTS = {
    Signal.TRACES: _build(ExportTraceServiceRequest.DESCRIPTOR, _BUILT),
    Signal.LOGS: _build(ExportLogsServiceRequest.DESCRIPTOR, _BUILT),
    Signal.METRICS: _build(ExportMetricsServiceRequest.DESCRIPTOR, _BUILT),
}
