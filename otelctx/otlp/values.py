"""OTLP common types (AnyValue, KeyValue lists, InstrumentationScope) → plain Python.

These run for every attribute of every item, so they are written for speed: one
``WhichOneof`` per value, no ``HasField``, no per-call allocations beyond the result.
The protobuf messages come from the upb implementation.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

from otelctx.model import Attributes, JSONValue, Scope

_SCALARS = frozenset(("string_value", "int_value", "double_value", "bool_value"))


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
    """A ``KeyValue`` list → dict; a repeated key keeps its last value."""
    result: Attributes = {}
    for kv in key_values:
        value = kv.value
        which = value.WhichOneof("value")
        result[kv.key] = getattr(value, which) if which in _SCALARS else any_value(value)
    return result


def scope(message: Any) -> Scope:
    """``InstrumentationScope`` → ``Scope`` (an unset scope gives the empty one)."""
    name: str = message.name
    version: str = message.version
    return Scope(name=name, version=version, attributes=attributes(message.attributes))
