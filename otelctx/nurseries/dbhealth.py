"""The database health task: a ping every ``DB_HEALTH_INTERVAL`` into :class:`DbHealth`.

Error handling: a failed or slow ping (over 2 s) is a reading, never a crash; the task runs
until its nursery is cancelled.
"""

from __future__ import annotations

import trio

from otelctx.dbhealth import DbHealth
from otelctx.storage.base import Storage, StorageError

PING_TIMEOUT_S = 2.0


async def ping(storage: Storage) -> str | None:
    """``None`` when the database answered within 2 s, else what went wrong."""
    with trio.move_on_after(PING_TIMEOUT_S):
        try:
            await storage.ping()
        except StorageError as exc:
            return str(exc) or type(exc).__name__
        return None
    return f"ping timed out after {PING_TIMEOUT_S:g} s"


async def run_db_health(
    storage: Storage,
    health: DbHealth,
    interval: float,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Ping at once, then every ``interval`` seconds (measured from the end of a ping)."""
    task_status.started()
    while True:
        health.observe(await ping(storage))
        await trio.sleep(interval)
