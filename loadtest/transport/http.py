"""OTLP/HTTP transport: ``POST <base>/v1/<signal>`` with protobuf bodies, one
keep-alive HTTP/1.1 connection per simulated service.

200 → ``Acked`` (partial_success read from the body); 429/502/503/504 → ``Refused``
with ``Retry-After`` (seconds or an HTTP date); other statuses → ``Failed`` (not
retryable) with the ``google.rpc.Status`` message of the body; a broken connection →
``Failed`` (retryable). The connection is kept across refusals, as an SDK keeps it
(the server reads a refused body before answering, so the connection stays usable).
"""

from __future__ import annotations

import time

from loadtest.http11 import HTTPConnection, HTTPError, client_ssl_context
from loadtest.options import Endpoint
from loadtest.retry import RETRYABLE_HTTP, parse_retry_after
from loadtest.transport.base import (
    Failed,
    Outcome,
    Refused,
    Signal,
    parse_export_response,
    parse_rpc_status,
)


class HTTPTransport:
    def __init__(self, endpoint: Endpoint, headers: list[tuple[str, str]], *,
                 verify_tls: bool = True) -> None:  # fmt: skip
        tls = client_ssl_context(verify_tls) if endpoint.tls else None
        self._conn = HTTPConnection(endpoint.host, endpoint.port, tls=tls)
        self._base = endpoint.base_path
        self._headers = [("content-type", "application/x-protobuf"), *headers]

    async def export(self, signal: Signal, body: bytes) -> Outcome:
        try:
            resp = await self._conn.request(
                "POST", self._base + signal.http_path, self._headers, body
            )
        except HTTPError as exc:
            return Failed(f"HTTP: {exc}", retryable=True)
        if resp.status == 200:
            return parse_export_response(signal, resp.body)
        message, _ = parse_rpc_status(resp.body) if _is_protobuf(resp.headers) else ("", None)
        detail = f"HTTP {resp.status}" + (f": {message}" if message else "")
        if resp.status in RETRYABLE_HTTP:
            delay = parse_retry_after(resp.headers.get("retry-after"), time.time())
            return Refused(delay, detail)
        if not message:
            detail += ": " + resp.body[:200].decode("utf-8", "replace")
        return Failed(detail, retryable=False)

    async def aclose(self) -> None:
        await self._conn.aclose()


def _is_protobuf(headers: dict[str, str]) -> bool:
    return headers.get("content-type", "").split(";")[0].strip() == "application/x-protobuf"
