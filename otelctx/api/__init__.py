"""The HTTP application: OTLP/HTTP receiver, probes, metrics and the query API."""

from __future__ import annotations

import logging

from quart import Quart, Response
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from otelctx.api import graph, investigations, otlp_http, probes, traces
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
    app.register_blueprint(graph.blueprint)
    app.register_blueprint(investigations.blueprint)

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        return json_response({"error": (exc.name or "error").lower()}, exc.code or 500)

    @app.errorhandler(Exception)
    async def unexpected(exc: Exception) -> Response:
        deps.metrics.internal_errors.labels("http").inc()
        log.exception("unhandled error in an HTTP route")
        return json_response({"error": "internal"}, 500)

    return app
