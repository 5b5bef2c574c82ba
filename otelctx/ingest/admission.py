"""Bounded admission in front of the writer: items and bytes in flight.

An export is admitted when its items and request bytes fit under both bounds; it
stays counted until the writer has committed (or failed) it. A request larger than a
bound on its own is still admitted when nothing else is in flight, so a big but legal
request is never refused forever. The check and the increment happen in one
synchronous call, so there is no window between deciding and admitting.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import trio

from otelctx.storage.base import WriteBatch


@dataclass(slots=True)
class Submission:
    """One admitted export, waiting for the writer to commit it and set ``done``."""

    batch: WriteBatch
    nbytes: int
    done: trio.Event = field(default_factory=trio.Event)
    error: Exception | None = None
    # when it was admitted (trio's clock): the writer's linger counts from here
    queued_at: float = field(default_factory=trio.current_time)


class Admission:
    def __init__(self, max_items: int, max_bytes: int) -> None:
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.items = 0
        self.bytes = 0

    def has_room(self, nbytes: int = 0) -> bool:
        """Cheap pre-check before a body is read or decoded."""
        if self.items == 0 and self.bytes == 0:
            return True
        return self.items < self.max_items and self.bytes + nbytes <= self.max_bytes

    def try_admit(self, items: int, nbytes: int) -> bool:
        idle = self.items == 0 and self.bytes == 0
        if not idle and (
            self.items + items > self.max_items or self.bytes + nbytes > self.max_bytes
        ):
            return False
        self.items += items
        self.bytes += nbytes
        return True

    def release(self, items: int, nbytes: int) -> None:
        self.items -= items
        self.bytes -= nbytes

    @property
    def fullness(self) -> float:
        return max(self.items / self.max_items, self.bytes / self.max_bytes)
