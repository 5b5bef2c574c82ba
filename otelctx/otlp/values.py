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

    Only the canonical layout is accepted: key (shorter than 128 bytes) then value, each
    once, lengths adding up exactly to the end, UTF-8 valid. Anything else is left to
    upb, so the result is always what upb would give. Reading past the end raises
    IndexError, which also means "not the simple layout".
    """
    try:
        if raw[0] != _KEY_TAG or raw[1] >= 0x80:
            return None
        key_end = 2 + raw[1]
        if raw[key_end] != _VALUE_TAG:
            return None
        pos = key_end + 1
        value_len = raw[pos]
        if value_len < 0x80:
            pos += 1
        elif raw[pos + 1] < 0x80:
            value_len = (value_len & 0x7F) | (raw[pos + 1] << 7)
            pos += 2
        else:
            return None
        end = len(raw)
        if pos + value_len != end or value_len < 2:
            return None
        tag = raw[pos]
        value: JSONValue
        if tag == _STRING_TAG:
            text_len = raw[pos + 1]
            if text_len < 0x80:
                pos += 2
            elif raw[pos + 2] < 0x80:
                text_len = (text_len & 0x7F) | (raw[pos + 2] << 7)
                pos += 3
            else:
                return None
            if pos + text_len != end:
                return None
            value = raw[pos:].decode()
        elif tag == _INT_TAG:
            value = _int64_to_end(raw, pos + 1)
            if value is None:
                return None
        elif tag == _DOUBLE_TAG:
            if value_len != 9:
                return None
            value = _unpack_double(raw, pos + 1)[0]
        elif tag == _BOOL_TAG:
            if value_len != 2 or raw[pos + 1] > 1:
                return None
            value = raw[pos + 1] == 1
        else:
            return None
        return raw[2:key_end].decode(), value
    except (IndexError, UnicodeDecodeError):
        return None


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
