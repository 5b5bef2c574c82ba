"""The HTTP application: OTLP/HTTP receiver, probes, metrics and the query API.

Every request passes the middleware of ``security.py`` first (recovery, per-IP rate limit,
API key, tenant, database health gate); routes read their tenant with ``request_tenant()``.
``security.install`` also answers unexpected errors (500), ``AuthRequired`` (401),
``InvalidTenant`` (400) and ``StorageUnavailable`` (503) raised inside routes.
"""

from __future__ import annotations

import logging
import time
from typing import cast

import orjson
from quart import Quart, Response
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from otelctx.api import (
    admin,
    bodies,
    docs,
    graph,
    investigations,
    logs,
    metrics,
    otlp_http,
    probes,
    security,
    traces,
)
from otelctx.api.context import error, json_response
from otelctx.api.openapi import build_document
from otelctx.api.params import BadParameter
from otelctx.deps import Deps

log = logging.getLogger(__name__)


def create_app(deps: Deps) -> Quart:
    app = QuartTrio("otelctx", static_folder=None)  # no static files: no /static route
    app.config["MAX_CONTENT_LENGTH"] = None  # the OTLP routes enforce their own limit
    app.extensions["otelctx"] = deps
    app.extensions[admin.STARTED_AT] = time.monotonic()
    settings = deps.settings
    document = build_document(auth_required=bool(settings.api_key or settings.api_tenant_keys))
    app.extensions[docs.DOCUMENT] = orjson.dumps(document)
    for module in (
        otlp_http,
        probes,
        traces,
        logs,
        metrics,
        admin,
        docs,
        graph,
        investigations,
    ):
        app.register_blueprint(module.blueprint)
    bodies.install(app)

    @app.errorhandler(BadParameter)
    async def bad_parameter(exc: BadParameter) -> Response:
        return error(str(exc), 400)

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        message = "internal" if code == 500 else (exc.name or "error").lower()
        resp = json_response({"error": message}, code)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            resp.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        return resp

    security.install(app, deps)
    outer = bodies.AnswerAfterBody(cast(bodies.ASGIApp, app.asgi_app))
    setattr(app, "asgi_app", outer)  # noqa: B010 - outermost
    return app
