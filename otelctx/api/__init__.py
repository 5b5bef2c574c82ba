"""The HTTP application: OTLP/HTTP receiver, probes, metrics and the query API.

Every request passes the middleware of ``security.py`` first (recovery, per-IP rate limit,
API key, tenant, database health gate); routes read their tenant with ``request_tenant()``.
"""

from __future__ import annotations

import logging

from quart import Quart, Response
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from otelctx.api import otlp_http, probes, security, traces
from otelctx.api.context import json_response
from otelctx.deps import Deps

log = logging.getLogger(__name__)


def create_app(deps: Deps) -> Quart:
    app = QuartTrio("otelctx")
    app.config["MAX_CONTENT_LENGTH"] = None  # the OTLP routes enforce their own limit
    app.extensions["otelctx"] = deps
    app.register_blueprint(otlp_http.blueprint)
    app.register_blueprint(probes.blueprint)
    app.register_blueprint(traces.blueprint)

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        message = "internal" if code == 500 else (exc.name or "error").lower()
        return json_response({"error": message}, code)

    security.install(app, deps)
    return app
