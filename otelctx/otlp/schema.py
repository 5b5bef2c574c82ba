"""The message classes the decoders parse into: OTLP with attribute lists left as bytes.

Turning ``KeyValue`` messages into Python is most of the decoding cost, and attributes
repeat heavily within a request (``http.method=GET`` on every span). So the decoders
parse requests with a copy of the OTLP schema, built here in a private descriptor pool,
in which every ``repeated KeyValue`` field of a message (``attributes``,
``filtered_attributes``, ``metadata``) is declared ``repeated bytes``. The wire format
is identical; upb hands each attribute over as its serialized bytes, which
``values.AttributeCache`` converts once per distinct attribute per request.
``KeyValueList.values`` (nested inside an AnyValue) stays a message list.

Everything else in these classes is the OTLP schema unchanged (same field names and
numbers), so a request parsed here has the same content as with
``opentelemetry.proto``'s classes. The classes are immutable module constants, like the
generated ``*_pb2`` modules they are derived from.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
)
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from otelctx.model import Signal

_KEY_VALUE = ".opentelemetry.proto.common.v1.KeyValue"
_KEY_VALUE_LIST = "KeyValueList"

# Dependency order: each file after the files it imports.
_FILES = (
    common_pb2,
    resource_pb2,
    trace_pb2,
    logs_pb2,
    metrics_pb2,
    trace_service_pb2,
    logs_service_pb2,
    metrics_service_pb2,
)

_REQUEST_NAMES = {
    Signal.TRACES: "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest",
    Signal.LOGS: "opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest",
    Signal.METRICS: "opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest",
}


def _messages(messages: Iterable[Any]) -> Iterable[Any]:
    for message in messages:
        yield message
        yield from _messages(message.nested_type)


def _build_pool() -> Any:
    pool = descriptor_pool.DescriptorPool()
    for module in _FILES:
        file_proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(file_proto)
        for message in _messages(file_proto.message_type):
            if message.name == _KEY_VALUE_LIST:
                continue
            for field in message.field:
                if field.type_name == _KEY_VALUE:
                    field.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
                    field.ClearField("type_name")
        pool.AddSerializedFile(file_proto.SerializeToString())
    return pool


_POOL = _build_pool()

REQUEST_CLASSES: dict[Signal, Any] = {
    signal: message_factory.GetMessageClass(_POOL.FindMessageTypeByName(name))
    for signal, name in _REQUEST_NAMES.items()
}
"""signal → Export*ServiceRequest class with raw-bytes attribute lists."""
