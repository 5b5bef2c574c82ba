"""Retention policy (pure): which tables each purge job covers and where the cutoff is.

Three jobs, each a unit that succeeds or fails on its own: ``logs``; ``traces`` (spans,
then trace summaries); ``metrics`` (metric points). Rows strictly older than
now - HOT_RETENTION_DAYS go.
"""

from __future__ import annotations

from dataclasses import dataclass

NS_PER_DAY = 86_400 * 1_000_000_000

JOBS: dict[str, tuple[str, ...]] = {
    "logs": ("logs",),
    "traces": ("spans", "traces"),
    "metrics": ("metric_points",),
}


def cutoff_ns(now_ns: int, days: int) -> int:
    return now_ns - days * NS_PER_DAY


@dataclass(frozen=True, slots=True)
class JobResult:
    job: str
    purged: dict[str, int]  # table -> rows deleted
    error: str | None = None  # None: the job succeeded

    @property
    def ok(self) -> bool:
        return self.error is None
