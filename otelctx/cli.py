"""``otelctx serve | check-config``: the only place that reads os.environ and exits.

Exit status: 0 after a clean stop, 2 for invalid configuration (one line naming the
variable), 1 when the server cannot start or fails (one line saying why).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence

import trio

from otelctx import __version__
from otelctx.config import (
    ConfigError,
    Settings,
    describe,
    key_file_summary,
    load,
    startup_warnings,
)
from otelctx.storage.base import StorageError

log = logging.getLogger("otelctx")

EXIT_CONFIG = 2
EXIT_FAILURE = 1


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be 0..65535 (0 picks a free port)")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="otelctx", description="Self-hosted OpenTelemetry backend")
    p.add_argument("--version", action="version", version=f"otelctx {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server (configured by environment variables)")
    serve.add_argument("--grpc-port", type=_port, help="override GRPC_PORT; 0 picks a free port")
    serve.add_argument("--http-port", type=_port, help="override HTTP_PORT; 0 picks a free port")
    sub.add_parser("check-config", help="validate the environment and print the settings")
    sub.add_parser("migrate", help="create or upgrade the database schema, then exit")
    return p


def _setup_logging(settings: Settings) -> None:
    level = {"WARN": logging.WARNING}.get(settings.log_level, settings.log_level)
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # While a database is down asyncpg logs a traceback for every reconnect attempt of its
    # pool; otelctx reports the outage itself (db_up, /ready, one warning per change).
    logging.getLogger("asyncpg.pool").setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load(os.environ)
    except ConfigError as exc:
        print(f"otelctx: invalid configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "check-config":
        for name, value in describe(settings):
            print(f"{name}={value}")
        keys = key_file_summary(settings)
        if keys is not None:  # a comment line: the output stays a valid env file
            print(f"# API_TENANT_KEYS_FILE holds {keys} (keys are never shown)")
        for warning in startup_warnings(settings):
            print(f"warning: {warning}", file=sys.stderr)
        return 0
    _setup_logging(settings)
    if args.command == "migrate":
        return _run(lambda: _migrate(settings))
    for warning in startup_warnings(settings):
        log.warning("%s", warning)
    from otelctx.app import serve

    # Ingest allocates many short-lived containers (a dict per span); at the default
    # thresholds the cyclic GC runs often and its full passes stall the event loop.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    return _run(lambda: serve(settings, grpc_port=args.grpc_port, http_port=args.http_port))


def _run(main: Callable[[], Awaitable[None]]) -> int:
    """trio.run, with storage and socket failures as one line and exit status 1."""
    status = 0
    try:
        trio.run(main)
    except* (StorageError, OSError) as group:
        for err in _leaves(group):
            print(f"otelctx: cannot start: {err}", file=sys.stderr)
        status = EXIT_FAILURE
    return status


async def _migrate(settings: Settings) -> None:
    import trio_asyncio

    from otelctx.storage import open_storage

    async with trio_asyncio.open_loop(), open_storage(settings, migrate=True) as storage:
        log.info("%s schema is up to date", storage.driver)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]
