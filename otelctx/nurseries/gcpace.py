"""Young-generation collections at a steady pace, so that none is long.

CPython starts a young collection when tracked allocations minus deallocations pass the
threshold (``cli``: 100,000), and it counts every deallocation, whatever the freed
object's generation. Once the graph holds ``GRAPHRAG_MAX_SPANS``, each span it adds
evicts an old one, the two cancel out, and the automatic collection stops coming while
the young generation keeps growing: the graph's new span tuples (which a collection would
stop tracking) and the cycles each export leaves behind (trio-asyncio handles, futures,
events). The collection that finally comes walks hundreds of thousands of objects: 280 ms
in a load run, on the event loop and, since the interpreter lock is held, for the writer
thread too, so the exports waiting on that commit are the slowest of the run. Collecting
the young generation every ``interval_s`` keeps each pause near 10 ms at 10,000 spans/s.
"""

from __future__ import annotations

import gc

import trio

GC_INTERVAL_S = 1.0


async def run_gc_pacer(
    interval_s: float = GC_INTERVAL_S,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    task_status.started()
    while True:
        await trio.sleep(interval_s)
        gc.collect(0)
