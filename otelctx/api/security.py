"""Request protection around the whole HTTP app, as ASGI middleware.

Outermost first::

    Recovery        an exception no route handled → 500 {"error":"internal"}
    Security        per-IP rate limit → API key → tenant → database health gate
    the quart app   routes (their own exceptions: the handlers installed by ``install``)

``Security`` decides by path before quart routes the request, so every route present and
future is covered without doing anything, and unknown paths are refused the same way as
known ones (a client without a key cannot probe which routes exist):

========================  ==========  ========  =================================
path                      rate limit  API key   DB gate
========================  ==========  ========  =================================
/live /ready              no          public    no
/metrics/prometheus       no          public    no
/v1/*                     no          required  no (ingest falls back to the DLQ)
/api/health               yes         public    no
/api/openapi.json         yes         public    no
/api/* (everything else)  yes         required  yes
anything else             yes         public    no
========================  ==========  ========  =================================

Probes and metrics are never rate limited, so orchestrators and Prometheus are never
throttled. Repeated slashes are merged before the path is classified. WebSocket handshakes
get the same checks (refused with the same status and body, or closed, which the server
answers 403), so a future ``/api`` WebSocket route is protected too.

Error handling: refusals are JSON ``{"error": ...}`` on every path except ``/v1/*``, which
answers in OTLP's own format (a ``google.rpc.Status`` in the request's encoding), as OTLP
clients expect. 401 carries ``WWW-Authenticate: Bearer``, 429 and 503 ``Retry-After``.
Every refusal is counted (``otelcontext_api_*``). The resolved :class:`~otelctx.auth.Identity`
is left in the ASGI scope for ``request_tenant()``.
"""

from __future__ import annotations

import enum
import logging
import math
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, cast

import orjson
from quart import Quart, Response, request
from werkzeug.exceptions import HTTPException

from otelctx.api.context import IDENTITY_SCOPE_KEY, deps, error
from otelctx.api.ratelimit import TokenBuckets, client_key
from otelctx.auth import (
    AuthFailure,
    AuthRequired,
    Identity,
    KeyTable,
    TenantMismatch,
    authenticate,
    bind_tenant,
)
from otelctx.dbhealth import DbHealth
from otelctx.deps import Deps
from otelctx.otlp import Encoding, status_body
from otelctx.storage.base import StorageUnavailable
from otelctx.telemetry import Metrics
from otelctx.tenants import InvalidTenant, header_text, sanitize_tenant

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_UNAUTHENTICATED, _PERMISSION_DENIED = 16, 7  # google.rpc.Code
_NO_ROUTE = "(no route)"
_WS_POLICY_VIOLATION = 1008


class Zone(enum.Enum):
    PROBE = "probe"
    OTLP = "otlp"
    API_PUBLIC = "api_public"
    API = "api"
    OTHER = "other"

    @property
    def rate_limited(self) -> bool:
        return self in (Zone.API, Zone.API_PUBLIC, Zone.OTHER)

    @property
    def needs_key(self) -> bool:
        return self in (Zone.API, Zone.OTLP)

    @property
    def is_api(self) -> bool:
        return self in (Zone.API, Zone.API_PUBLIC)


_PROBES = frozenset({"/live", "/ready", "/metrics/prometheus"})
_API_PUBLIC = frozenset({"/api/health", "/api/openapi.json"})
_SLASHES = re.compile(r"//+")


def zone_of(path: str) -> Zone:
    if "//" in path:
        path = _SLASHES.sub("/", path)
    if path in _PROBES:
        return Zone.PROBE
    if path == "/v1" or path.startswith("/v1/"):
        return Zone.OTLP
    if path in _API_PUBLIC:
        return Zone.API_PUBLIC
    if path == "/api" or path.startswith("/api/"):
        return Zone.API
    return Zone.OTHER


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    body: bytes
    content_type: bytes = b"application/json"
    headers: tuple[tuple[bytes, bytes], ...] = ()

    async def send(self, send: Send, kind: str = "http.response") -> None:
        """Send the response; ``kind`` ``websocket.http.response`` refuses a handshake."""
        headers = [
            (b"content-type", self.content_type),
            (b"content-length", str(len(self.body)).encode()),
            *self.headers,
        ]
        await send({"type": f"{kind}.start", "status": self.status, "headers": headers})
        await send({"type": f"{kind}.body", "body": self.body, "more_body": False})


def _json_refusal(status: int, message: str, *headers: tuple[bytes, bytes]) -> Refusal:
    return Refusal(status, orjson.dumps({"error": message}), headers=headers)


def _otlp_refusal(
    status: int, code: int, message: str, content_type: bytes | None,
    *headers: tuple[bytes, bytes],
) -> Refusal:  # fmt: skip
    media = (content_type or b"").split(b";", 1)[0].strip().lower()
    if media == b"application/json":
        body = status_body(code, message, Encoding.JSON)
        return Refusal(status, body, b"application/json", headers)
    body = status_body(code, message, Encoding.PROTOBUF)
    return Refusal(status, body, b"application/x-protobuf", headers)


_WWW_AUTHENTICATE = (b"www-authenticate", b"Bearer")


def _retry_after(seconds: float) -> tuple[bytes, bytes]:
    return (b"retry-after", str(max(1, math.ceil(seconds))).encode())


class Security:
    """ASGI middleware: rate limit → API key → tenant → DB gate (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: KeyTable,
        limiter: TokenBuckets | None,
        trust_proxy: bool,
        health: DbHealth,
        metrics: Metrics,
        db_retry_after_s: float,
    ) -> None:
        self._app = app
        self._keys = keys
        self._limiter = limiter
        self._trust_proxy = trust_proxy
        self._health = health
        self._metrics = metrics
        self._db_retry_after = _retry_after(db_retry_after_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self.check(scope)
            if refusal is not None:
                # The body is not read: an unauthorised or throttled client gets no more work.
                await refusal.send(send)
                return
        elif scope["type"] == "websocket":
            refusal = self.check(scope)
            if refusal is not None:
                if "websocket.http.response" in scope.get("extensions", {}):
                    await refusal.send(send, "websocket.http.response")
                else:  # closing before accepting: the server answers the handshake 403
                    await send({"type": "websocket.close", "code": _WS_POLICY_VIOLATION})
                return
        await self._app(scope, receive, send)

    def check(self, scope: Scope) -> Refusal | None:
        """The refusal for this request, or None after leaving its Identity in ``scope``."""
        zone = zone_of(scope["path"])
        authz = tenant_raw = forwarded = content_type = None
        for name, value in scope["headers"]:
            if name == b"authorization" and authz is None:
                authz = value
            elif name == b"x-tenant-id" and tenant_raw is None:
                tenant_raw = value
            elif name == b"x-forwarded-for" and forwarded is None:
                forwarded = value
            elif name == b"content-type" and content_type is None:
                content_type = value

        if zone.rate_limited and self._limiter is not None:
            client = scope.get("client")
            key = client_key(
                client[0] if client else None,
                forwarded.decode("latin-1") if forwarded is not None else None,
                self._trust_proxy,
            )
            wait = self._limiter.take(key)
            if wait > 0:
                self._metrics.api_rate_limited.inc()
                return _json_refusal(429, "rate limit exceeded", _retry_after(wait))

        bound: str | None = None
        failure: AuthFailure | None = None
        if self._keys.enabled:
            found = authenticate(self._keys, authz)
            if isinstance(found, AuthFailure):
                if zone.needs_key:
                    self._metrics.api_auth_failures.labels(found.value).inc()
                    if zone is Zone.OTLP:
                        return _otlp_refusal(401, _UNAUTHENTICATED, "unauthorized",
                                             content_type, _WWW_AUTHENTICATE)  # fmt: skip
                    return _json_refusal(401, "unauthorized", _WWW_AUTHENTICATE)
                failure = found  # public route: only request_tenant() will need a key
            else:
                bound = found.tenant

        tenant_error: str | None = None
        try:
            named = sanitize_tenant(
                header_text(tenant_raw.decode("latin-1")) if tenant_raw is not None else None
            )
        except InvalidTenant as exc:
            if zone.is_api:
                return _json_refusal(400, f"invalid X-Tenant-ID header: {exc}")
            named, tenant_error = None, str(exc)
        try:
            tenant = bind_tenant(bound, named)
        except TenantMismatch:
            if zone is Zone.OTLP:
                self._metrics.api_tenant_mismatch.labels("http").inc()
                return _otlp_refusal(403, _PERMISSION_DENIED, "tenant mismatch", content_type)
            if zone.is_api:
                self._metrics.api_tenant_mismatch.labels("http").inc()
                return _json_refusal(403, "tenant mismatch")
            tenant = bound  # probes and other public paths have no tenant to protect
        scope[IDENTITY_SCOPE_KEY] = Identity(tenant, bound is not None, failure, tenant_error)

        if zone is Zone.API and not self._health.healthy:
            self._metrics.api_db_unavailable.inc()
            return _json_refusal(503, "database unavailable", self._db_retry_after)
        return None


class Recovery:
    """ASGI middleware: an exception that escaped the app becomes 500 ``{"error":"internal"}``
    when no response has started (after that, it is re-raised and the server drops the
    connection: a truncated response must not look complete)."""

    def __init__(self, app: ASGIApp, report: Callable[[Scope, BaseException], None]) -> None:
        self._app = app
        self._report = report

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._app(scope, receive, tracking_send)
        except Exception as exc:  # trio.Cancelled is a BaseException and passes
            self._report(scope, exc)
            if started:
                raise
            await _json_refusal(500, "internal").send(send)


def report_internal_error(metrics: Metrics, method: str, route: str, exc: BaseException) -> None:
    """Count and log an unexpected error; ``route`` is the template (``/api/traces/<id>``),
    never the raw path, which may carry ids or secrets a client put there."""
    metrics.internal_errors.labels("http").inc()
    log.error("unhandled %s in %s %s", type(exc).__name__, method, route, exc_info=exc)


def route_template(app: Quart, method: str, path: str) -> str:
    try:
        rule, _ = app.url_map.bind("localhost").match(path, method, return_rule=True)
    except HTTPException:  # NotFound, MethodNotAllowed, RequestRedirect
        return _NO_ROUTE
    return str(rule.rule)


def install(app: Quart, d: Deps) -> None:
    """Wrap ``app`` in Recovery and Security and register the error handlers of routes."""
    s = d.settings
    keys = KeyTable.build(s.api_key, s.api_tenant_keys)
    limiter = TokenBuckets(s.api_rate_limit_rps) if s.api_rate_limit_rps else None
    metrics = d.metrics
    # Unhandled errors leave quart instead of being logged by it with the raw path.
    app.config["PROPAGATE_EXCEPTIONS"] = True

    def report(scope: Scope, exc: BaseException) -> None:
        method = str(scope.get("method", "?"))
        report_internal_error(metrics, method, route_template(app, method, scope["path"]), exc)

    security = Security(
        cast(ASGIApp, app.asgi_app), keys=keys, limiter=limiter, trust_proxy=s.trust_proxy_headers,
        health=d.db_health, metrics=metrics, db_retry_after_s=s.db_health_interval,
    )  # fmt: skip
    setattr(app, "asgi_app", Recovery(security, report))  # noqa: B010 - quart's middleware hook

    @app.errorhandler(Exception)
    async def unexpected(exc: Exception) -> Response:
        rule = request.url_rule
        report_internal_error(metrics, request.method, rule.rule if rule else _NO_ROUTE, exc)
        return error("internal", 500)

    @app.errorhandler(AuthRequired)
    async def auth_required(exc: AuthRequired) -> Response:
        metrics.api_auth_failures.labels(exc.reason.value).inc()
        response = error("unauthorized", 401)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.errorhandler(InvalidTenant)
    async def invalid_tenant(exc: InvalidTenant) -> Response:
        return error(f"invalid X-Tenant-ID header: {exc}", 400)

    @app.errorhandler(StorageUnavailable)
    async def storage_unavailable(exc: StorageUnavailable) -> Response:
        rule = request.url_rule
        log.warning("database unavailable in %s: %s", rule.rule if rule else _NO_ROUTE, exc)
        response = error("database unavailable", 503)
        response.headers["Retry-After"] = str(max(1, math.ceil(deps().settings.db_health_interval)))
        return response

    log.info(
        "HTTP API protection: %s; %s",
        _describe_keys(s.api_key, keys, s.api_tenant_keys_file),
        f"per-IP rate limit {s.api_rate_limit_rps}/s" if limiter is not None else "no rate limit",
    )


def _describe_keys(api_key: str, keys: KeyTable, key_file: str) -> str:
    if not keys.enabled:
        return "no API key (unauthenticated)"
    parts = ["API_KEY (not bound to a tenant)"] if api_key else []
    if key_file:
        parts.append(f"{len(keys) - bool(api_key)} tenant keys from {key_file}")
    return "API keys: " + " and ".join(parts)


__all__ = ["Recovery", "Refusal", "Security", "Zone", "install", "zone_of"]
