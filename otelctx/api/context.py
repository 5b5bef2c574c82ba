"""Access to the app's dependencies from inside a request."""

from __future__ import annotations

from typing import cast

import orjson
from quart import Response, current_app

from otelctx.deps import Deps


def deps() -> Deps:
    return cast(Deps, current_app.extensions["otelctx"])


def json_response(payload: object, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status=status, content_type="application/json")


def error(message: str, status: int) -> Response:
    return json_response({"error": message}, status)
