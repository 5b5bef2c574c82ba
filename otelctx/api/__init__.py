"""The HTTP application: OTLP/HTTP receiver, probes, metrics and the query API."""

from __future__ import annotations

import logging
import time

import orjson
from quart import Quart, Response
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from otelctx.api import admin, bodies, docs, logs, metrics, otlp_http, probes, traces
from otelctx.api.context import error, json_response
from otelctx.api.openapi import build_document
from otelctx.api.params import BadParameter
from otelctx.deps import Deps
from otelctx.storage.base import StorageUnavailable
from otelctx.tenants import InvalidTenant

log = logging.getLogger(__name__)

_RETRY_AFTER_S = 5  # after a 503 for an unavailable database


def create_app(deps: Deps) -> Quart:
    app = QuartTrio("otelctx", static_folder=None)  # no static files: no /static route
    app.config["MAX_CONTENT_LENGTH"] = None  # the OTLP routes enforce their own limit
    app.extensions["otelctx"] = deps
    app.extensions[admin.STARTED_AT] = time.monotonic()
    document = build_document(auth_required=bool(deps.settings.api_key))
    app.extensions[docs.DOCUMENT] = orjson.dumps(document)
    for module in (otlp_http, probes, traces, logs, metrics, admin, docs):
        app.register_blueprint(module.blueprint)
    bodies.install(app)

    @app.errorhandler(BadParameter)
    async def bad_parameter(exc: BadParameter) -> Response:
        return error(str(exc), 400)

    @app.errorhandler(InvalidTenant)
    async def bad_tenant(exc: InvalidTenant) -> Response:
        return error(f"invalid X-Tenant-ID header: {exc}", 400)

    @app.errorhandler(StorageUnavailable)
    async def unavailable(exc: StorageUnavailable) -> Response:
        log.warning("query failed, database unavailable: %s", exc)
        resp = error("database unavailable", 503)
        resp.headers["Retry-After"] = str(_RETRY_AFTER_S)
        return resp

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        resp = json_response({"error": (exc.name or "error").lower()}, exc.code or 500)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            resp.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        return resp

    @app.errorhandler(Exception)
    async def unexpected(exc: Exception) -> Response:
        deps.metrics.internal_errors.labels("http").inc()
        log.exception("unhandled error in an HTTP route")
        return json_response({"error": "internal"}, 500)

    return app
