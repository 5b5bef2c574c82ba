"""The attribute fast path reads KeyValue wire bytes itself; it must agree with upb always."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from google.protobuf.message import DecodeError as ProtobufDecodeError
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from otelctx.otlp.values import AttributeCache, _simple_pair, any_value


def reference(raw: bytes) -> tuple[str, Any]:
    key_value = KeyValue.FromString(raw)
    return key_value.key, any_value(key_value.value)


def same(left: Any, right: Any) -> bool:
    """Equality that tells True from 1, 1 from 1.0, and treats NaN as equal to NaN."""
    if type(left) is not type(right):
        return False
    if isinstance(left, float):
        return left == right or (math.isnan(left) and math.isnan(right))
    if isinstance(left, tuple | list):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    return bool(left == right)


scalars = st.one_of(
    st.text(max_size=300).map(lambda s: AnyValue(string_value=s)),
    st.booleans().map(lambda b: AnyValue(bool_value=b)),
    st.integers(-(2**63), 2**63 - 1).map(lambda i: AnyValue(int_value=i)),
    st.floats().map(lambda f: AnyValue(double_value=f)),
    st.binary(max_size=20).map(lambda b: AnyValue(bytes_value=b)),
    st.just(AnyValue()),
    st.lists(st.text(max_size=5).map(lambda s: AnyValue(string_value=s)), max_size=3).map(
        lambda values: AnyValue(array_value={"values": values})
    ),
)
keys = st.text(max_size=200)


@settings(max_examples=500, deadline=None)
@given(key=keys, value=scalars)
def test_canonical_key_values_match_upb(key: str, value: AnyValue) -> None:
    raw = KeyValue(key=key, value=value).SerializeToString()
    assert same(AttributeCache()[raw], reference(raw))


@settings(max_examples=500, deadline=None)
@given(key=keys, value=scalars, extra=st.binary(max_size=12), order=st.booleans())
def test_odd_layouts_match_upb_or_both_fail(
    key: str, value: AnyValue, extra: bytes, order: bool
) -> None:
    """Trailing bytes, fields out of order, repeated fields: upb decides."""
    key_field = KeyValue(key=key).SerializeToString()
    value_field = KeyValue(value=value).SerializeToString()
    raw = (value_field + key_field if order else key_field + value_field) + extra
    try:
        expected = reference(raw)
    except ProtobufDecodeError:
        assert _simple_pair(raw) is None
        with pytest.raises(ProtobufDecodeError):
            AttributeCache()[raw]
        return
    assert same(AttributeCache()[raw], expected)


@settings(max_examples=1000, deadline=None)
@given(raw=st.binary(max_size=40))
def test_arbitrary_bytes_match_upb_or_both_fail(raw: bytes) -> None:
    fast = _simple_pair(raw)
    try:
        expected = reference(raw)
    except ProtobufDecodeError:
        assert fast is None
        return
    assert fast is None or same(fast, expected)


@pytest.mark.parametrize(
    "raw",
    [
        b"\x0a\x01k\x12\x02\x10\x02",  # bool encoded as 2: upb says True
        b"\x0a\x01k\x12\x0b\x18" + b"\xff" * 9 + b"\x01",  # int64 -1
        b"\x0a\x01k\x12\x0c\x18" + b"\xff" * 10 + b"\x01",  # over-long varint
        b"\x0a\x01k\x12\x09\x21" + struct.pack("<d", -0.0),
        b"\x0a\x01k\x12\x03\x0a\x01\xff",  # invalid UTF-8 string value
        b"\x0a\x01\xff\x12\x02\x10\x01",  # invalid UTF-8 key
        b"\x0a\x01k\x12\x00",  # empty AnyValue
        b"\x0a\x01k",  # no value at all
        b"\x12\x02\x10\x01",  # no key
    ],
)
def test_edge_encodings(raw: bytes) -> None:
    try:
        expected = reference(raw)
    except ProtobufDecodeError:
        with pytest.raises(ProtobufDecodeError):
            AttributeCache()[raw]
        return
    assert same(AttributeCache()[raw], expected)


def test_cache_keeps_scalars_but_not_mutable_values() -> None:
    cache = AttributeCache()
    scalar = KeyValue(key="k", value=AnyValue(string_value="v")).SerializeToString()
    nested = KeyValue(key="l", value=AnyValue(array_value={"values": []})).SerializeToString()
    assert cache[scalar] is cache[scalar]
    assert cache[nested] == cache[nested]
    assert cache[nested][1] is not cache[nested][1]
    assert list(cache) == [scalar]
