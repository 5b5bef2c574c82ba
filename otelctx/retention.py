"""Retention policy (pure): which tables each purge job covers and where the cutoff is.

Jobs, each a unit that succeeds or fails on its own: ``logs``; ``traces`` (spans, then
trace summaries); ``metrics`` (metric points); ``graph`` (investigations, topology
snapshots, Drain templates); ``dlq`` (the keys of replayed DLQ batches). Rows strictly
older than the table's cutoff go: now - HOT_RETENTION_DAYS, except the tables of
``FIXED_KEEP_NS``, kept a fixed time:

- ``graph_snapshots``: 7 days, as the graph's own snapshot loop keeps them;
- ``dlq_replays``: 30 days after the batch's commit. A key is needed only until its DLQ
  file is deleted, which follows the commit at once; only a process that died in
  between leaves the file, to be replayed (and found stored) when it runs again: within
  the 1 h maximum backoff of a retry once it runs. 30 days is for an instance that
  stays down that long; the table holds one small row (~100 bytes with its indexes) per
  replayed batch.

Each table is purged by one time column (``storage.rows.PURGE_TIME_COLUMN``): Drain
templates by when they last matched a line, so a template in use is never purged.
"""

from __future__ import annotations

from dataclasses import dataclass

from otelctx.graph.summary import SNAPSHOT_RETENTION_NS

NS_PER_DAY = 86_400 * 1_000_000_000

JOBS: dict[str, tuple[str, ...]] = {
    "logs": ("logs",),
    "traces": ("spans", "traces"),
    "metrics": ("metric_points",),
    "graph": ("investigations", "graph_snapshots", "drain_templates"),
    "dlq": ("dlq_replays",),
}

FIXED_KEEP_NS: dict[str, int] = {
    "graph_snapshots": SNAPSHOT_RETENTION_NS,
    "dlq_replays": 30 * NS_PER_DAY,
}


def cutoff_ns(now_ns: int, days: int) -> int:
    return now_ns - days * NS_PER_DAY


def table_cutoff_ns(table: str, now_ns: int, hot_days: int) -> int:
    """Where ``table``'s rows start to go: its fixed time if it has one, else
    HOT_RETENTION_DAYS (``hot_days``)."""
    keep = FIXED_KEEP_NS.get(table)
    return cutoff_ns(now_ns, hot_days) if keep is None else now_ns - keep


@dataclass(frozen=True, slots=True)
class JobResult:
    job: str
    purged: dict[str, int]  # table -> rows deleted
    error: str | None = None  # None: the job succeeded

    @property
    def ok(self) -> bool:
        return self.error is None
