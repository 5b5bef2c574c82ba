"""Pure OTLP: decompression, decoding into model records, response encoding.

No I/O and no async framework here; the gRPC and HTTP receivers are thin shells
around these functions. Nothing here keeps mutable state between calls, so a large body
may be decoded in a worker thread.

    compression.py  Content-Encoding (gzip, deflate) under a size limit
    decode.py       decode_traces / decode_logs / decode_metrics → Decoded[record]
    policy.py       tenant resolution, service filters, severity gate
    responses.py    Export*ServiceResponse, google.rpc.Status / RetryInfo bodies
    errors.py       DecodeError, PayloadTooLarge
internals: schema.py (parse classes), values.py (attributes), traces/logs/metrics.py
(record mapping), otlpjson.py (OTLP/JSON → protobuf bytes), tally.py (rejections).
"""

from otelctx.otlp.compression import UnsupportedEncoding, decompress
from otelctx.otlp.decode import Decoded, Encoding, decode_logs, decode_metrics, decode_traces
from otelctx.otlp.errors import DecodeError, PayloadTooLarge
from otelctx.otlp.policy import IngestPolicy, severity_of
from otelctx.otlp.responses import (
    export_response,
    grpc_status_details_bin,
    retry_info,
    status_body,
)
from otelctx.tenants import InvalidTenant, sanitize_tenant

__all__ = [
    "DecodeError",
    "Decoded",
    "Encoding",
    "IngestPolicy",
    "InvalidTenant",
    "PayloadTooLarge",
    "UnsupportedEncoding",
    "decode_logs",
    "decode_metrics",
    "decode_traces",
    "decompress",
    "export_response",
    "grpc_status_details_bin",
    "retry_info",
    "sanitize_tenant",
    "severity_of",
    "status_body",
]
