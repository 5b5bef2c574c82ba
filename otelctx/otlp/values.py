"""OTLP common types (AnyValue, KeyValue, InstrumentationScope) → plain Python.

Attribute lists arrive as serialized ``KeyValue`` bytes (see ``schema.py``).
``AttributeCache`` converts each distinct one once per request: the common shapes
(a string, int, double or bool value under a short key) are read straight from the
wire bytes, anything else goes through upb's ``KeyValue`` and ``any_value``.
On a cache hit an attribute list costs one C-level ``dict(map(...))``.

Error handling: a malformed attribute raises ``google.protobuf.message.DecodeError``
(from upb), which ``decode.py`` turns into our ``DecodeError``.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from otelctx.model import Attributes, JSONValue, Scope

_SCALARS = frozenset(("string_value", "int_value", "double_value", "bool_value"))
_unpack_double = struct.Struct("<d").unpack_from

# Wire tags: KeyValue.key (1, len), KeyValue.value (2, len); AnyValue.string_value (1, len),
# bool_value (2, varint), int_value (3, varint), double_value (4, fixed64).
_KEY_TAG = 0x0A
_VALUE_TAG = 0x12
_STRING_TAG = 0x0A
_BOOL_TAG = 0x10
_INT_TAG = 0x18
_DOUBLE_TAG = 0x21

Pair = tuple[str, JSONValue]


class AttributeCache(dict[bytes, Pair]):
    """Per-request memo: serialized ``KeyValue`` → ``(key, value)``.

    Use ``dict(map(cache.__getitem__, raw_list))`` for an attribute list (a repeated key
    keeps its last value). Pairs with a list or dict value are not memoised, so no two
    records share a mutable attribute value. One cache per request: its size is bounded
    by the request's size.
    """

    __slots__ = ()

    def __missing__(self, raw: bytes) -> Pair:
        pair = _simple_pair(raw)
        if pair is None:
            key_value = KeyValue.FromString(raw)
            pair = (key_value.key, any_value(key_value.value))
            if isinstance(pair[1], list | dict):
                return pair
        self[raw] = pair
        return pair

    def scope(self, message: Any) -> Scope:
        """``InstrumentationScope`` → ``Scope`` (an unset scope gives the empty one)."""
        name: str = message.name
        version: str = message.version
        return Scope(name, version, dict(map(self.__getitem__, message.attributes)))


def any_value(value: Any) -> JSONValue:
    """``AnyValue`` → str | bool | int | float | list | dict | None (bytes → base64 text).

    Nesting depth is bounded by the protobuf parsers (100 levels), so recursion is safe.
    ``string_value_strindex`` (profiles only) and an unset value become ``None``.
    """
    which = value.WhichOneof("value")
    if which in _SCALARS:
        return getattr(value, which)
    if which == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if which == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None


def attributes(key_values: Iterable[Any]) -> Attributes:
    """A list of ``KeyValue`` messages → dict; a repeated key keeps its last value."""
    return {key_value.key: any_value(key_value.value) for key_value in key_values}


def _simple_pair(raw: bytes) -> Pair | None:
    """Read a ``KeyValue`` that is exactly ``key`` then a scalar ``value``, else ``None``.

    Only the canonical layout is accepted (each field once, in order, lengths adding up
    to the end, UTF-8 valid); anything else is left to upb, so the result is always what
    upb would give.
    """
    end = len(raw)
    if end < 4 or raw[0] != _KEY_TAG:
        return None
    key_len, key_start = _length(raw, 1)
    key_end = key_start + key_len
    if key_len < 0 or key_end + 2 > end or raw[key_end] != _VALUE_TAG:
        return None
    value_len, value_start = _length(raw, key_end + 1)
    if value_len < 2 or value_start + value_len != end:
        return None
    tag = raw[value_start]
    body = value_start + 1
    value: JSONValue
    if tag == _STRING_TAG:
        text_len, text_start = _length(raw, body)
        if text_len < 0 or text_start + text_len != end:
            return None
        try:
            value = raw[text_start:].decode()
        except UnicodeDecodeError:
            return None
    elif tag == _INT_TAG:
        value = _int64_to_end(raw, body)
        if value is None:
            return None
    elif tag == _DOUBLE_TAG:
        if end - body != 8:
            return None
        value = _unpack_double(raw, body)[0]
    elif tag == _BOOL_TAG:
        if end - body != 1 or raw[body] > 1:
            return None
        value = raw[body] == 1
    else:
        return None
    try:
        return raw[key_start:key_end].decode(), value
    except UnicodeDecodeError:
        return None


def _length(raw: bytes, pos: int) -> tuple[int, int]:
    """A one- or two-byte varint at ``pos`` → (value, next position); (-1, pos) otherwise."""
    if pos >= len(raw):
        return -1, pos
    first = raw[pos]
    if first < 0x80:
        return first, pos + 1
    if pos + 1 < len(raw) and raw[pos + 1] < 0x80:
        return (first & 0x7F) | (raw[pos + 1] << 7), pos + 2
    return -1, pos


def _int64_to_end(raw: bytes, pos: int) -> int | None:
    """The varint from ``pos`` to the end of ``raw`` as int64, or ``None``."""
    end = len(raw)
    if not 0 < end - pos <= 10:
        return None
    result = 0
    shift = 0
    for index in range(pos, end):
        byte = raw[index]
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            if index != end - 1 or result >= 1 << 64:
                return None
            return result - (1 << 64) if result >= 1 << 63 else result
    return None
