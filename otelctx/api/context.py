"""Access to the app's dependencies from inside a request."""

from __future__ import annotations

from typing import cast

import orjson
from quart import Response, current_app, request

from otelctx.deps import Deps
from otelctx.tenants import header_text, sanitize_tenant


def deps() -> Deps:
    return cast(Deps, current_app.extensions["otelctx"])


def json_response(payload: object, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status=status, content_type="application/json")


def error(message: str, status: int) -> Response:
    return json_response({"error": message}, status)


def request_tenant() -> str:
    """The tenant of an API request: X-Tenant-ID, else DEFAULT_TENANT.

    Raises InvalidTenant for a header that breaks the tenant rule."""
    tenant = sanitize_tenant(header_text(request.headers.get("X-Tenant-ID")))
    return tenant or deps().settings.default_tenant


def query_args() -> dict[str, list[str]]:
    """The request's query string: each name with every value given, in order."""
    return request.args.to_dict(flat=False)
