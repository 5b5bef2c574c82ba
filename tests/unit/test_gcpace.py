"""The GC pacer collects the young generation on its own rhythm, whatever CPython's
allocation count says (see otelctx.nurseries.gcpace for why)."""

from __future__ import annotations

import gc
import weakref

import trio

from otelctx.nurseries.gcpace import run_gc_pacer


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def make_cycle(collected: trio.Event) -> None:
    a, b = Node(), Node()
    a.other, b.other = b, a  # only the cyclic GC can free them
    weakref.finalize(a, collected.set)


async def test_the_pacer_frees_cycles_the_automatic_collection_would_not() -> None:
    collected = trio.Event()
    gc.disable()  # as when allocations and deallocations cancel out: no automatic pass
    try:
        make_cycle(collected)
        with trio.move_on_after(0.3):
            await collected.wait()
        assert not collected.is_set(), "freed without a collection: not a cycle"
        async with trio.open_nursery() as nursery:
            await nursery.start(run_gc_pacer, 0.05)
            with trio.fail_after(10):
                await collected.wait()
            nursery.cancel_scope.cancel()
    finally:
        gc.enable()
