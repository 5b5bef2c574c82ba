"""SIGINT/SIGTERM: the first asks for a graceful stop, the second cancels at once."""

from __future__ import annotations

import logging
import signal

import trio

log = logging.getLogger(__name__)


async def run_signals(
    stop: trio.Event,
    hard_stop: trio.CancelScope,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            name = signal.Signals(signum).name
            if not stop.is_set():
                log.info("%s received: stopping gracefully (send it again to stop at once)",
                         name)  # fmt: skip
                stop.set()
            else:
                log.warning("%s received again: stopping now", name)
                hard_stop.cancel()
                return
