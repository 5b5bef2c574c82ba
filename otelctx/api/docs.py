"""``GET /api/openapi.json``: the OpenAPI document (public, built once per app)."""

from __future__ import annotations

from quart import Blueprint, Response, current_app

from otelctx.api.context import query_args
from otelctx.api.inputs import no_input

blueprint = Blueprint("docs", __name__)

DOCUMENT = "otelctx.openapi"  # app.extensions key: the document as JSON bytes


@blueprint.get("/api/openapi.json")
async def openapi() -> Response:
    no_input(query_args())
    body: bytes = current_app.extensions[DOCUMENT]
    return Response(body, 200, content_type="application/json")
