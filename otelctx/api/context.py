"""Access to the app's dependencies and the request's identity from inside a request."""

from __future__ import annotations

from typing import cast

import orjson
from quart import Response, current_app, has_websocket_context, request, websocket

from otelctx.auth import AuthRequired, Identity
from otelctx.deps import Deps
from otelctx.tenants import InvalidTenant

# Where the security middleware (api/security.py) leaves the Identity in the ASGI scope.
IDENTITY_SCOPE_KEY = "otelctx.identity"


def deps() -> Deps:
    return cast(Deps, current_app.extensions["otelctx"])


def json_response(payload: object, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status=status, content_type="application/json")


def error(message: str, status: int) -> Response:
    return json_response({"error": message}, status)


def request_identity() -> Identity:
    """The identity the security middleware resolved; it runs before every route."""
    scope = websocket.scope if has_websocket_context() else request.scope
    identity = scope.get(IDENTITY_SCOPE_KEY)
    if not isinstance(identity, Identity):
        # Fail closed: a route must never fall back to trusting the raw headers.
        raise RuntimeError("request has no identity: the security middleware is not installed")
    return identity


def request_tenant() -> str:
    """The tenant of an API request: the API key's bound tenant, else ``X-Tenant-ID``, else
    ``DEFAULT_TENANT`` — as resolved once by the security middleware.

    On ``/api/*`` a bad header (400), a missing or bad key (401) and a bound key naming
    another tenant (403) were answered before the route ran. Elsewhere (public routes):
    raises :class:`AuthRequired` (answered 401) when authentication is on and the request has
    no valid key, and :class:`InvalidTenant` (answered 400) for a bad ``X-Tenant-ID``.
    """
    identity = request_identity()
    if identity.auth_failure is not None:
        raise AuthRequired(identity.auth_failure)
    if identity.tenant_error is not None:
        raise InvalidTenant(identity.tenant_error)
    return identity.tenant or deps().settings.default_tenant


def query_args() -> dict[str, list[str]]:
    """The request's query string: each name with every value given, in order."""
    return request.args.to_dict(flat=False)
