"""The HTTP server: hypercorn's trio worker serving the quart-trio app.

Resource handling: hypercorn owns its sockets. A graceful stop is hypercorn's own
``shutdown_trigger`` (stop accepting, finish in-flight requests under
SHUTDOWN_TIMEOUT); ``run_http`` returns when hypercorn has stopped.

Error handling: hypercorn returns normally on its own (e.g. Ctrl-C handling), so an
unexpected return while no stop was asked for is raised as an error.
"""

from __future__ import annotations

import logging

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from otelctx.api import create_app
from otelctx.deps import Deps

log = logging.getLogger(__name__)


class UnexpectedStop(RuntimeError):
    pass


async def run_http(
    deps: Deps,
    stop: trio.Event,
    *,
    port: int,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> None:
    settings = deps.settings
    config = Config()
    config.bind = [f"{settings.listen_host}:{port}"]
    config.graceful_timeout = settings.shutdown_timeout
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.keep_alive_timeout = 75
    app = create_app(deps)

    async def serve_and_report(*, task_status: trio.TaskStatus[list[str]]) -> None:
        await serve(app, config, shutdown_trigger=stop.wait, task_status=task_status)

    async with trio.open_nursery() as nursery:
        binds = await nursery.start(serve_and_report)
        bound = int(binds[0].rsplit(":", 1)[1])
        log.info("HTTP listening on %s:%d", settings.listen_host, bound)
        task_status.started(bound)
    if not stop.is_set():
        raise UnexpectedStop("the HTTP server stopped without being asked to")
