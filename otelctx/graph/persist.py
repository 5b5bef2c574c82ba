"""What the graph keeps outside memory, behind a small protocol, and an in-memory version.

:class:`GraphPersistence` maps onto three tables, each with a ``tenant_id`` column, and
one read of ``spans``:

- ``investigations`` — one row per :class:`~otelctx.graph.investigations.Investigation`
  (lists as JSON columns); listed newest first, filtered by service (trigger *or* root),
  severity and status, at most ``MAX_LIST`` rows.
- ``graph_snapshots`` — one row per :class:`~otelctx.graph.summary.GraphSnapshot`;
  ``snapshot_at`` is the newest row with ``created_at <= at`` of the tenant; rows older
  than a cutoff are pruned.
- ``drain_templates`` — primary key (tenant_id, id), id the template's FNV-64a as a
  signed BIGINT (``drain.to_signed64``); saving upserts, loading returns every tenant's.
- ``spans_since(mark, limit)`` — the incremental rebuild: spans of every tenant with
  ``(start_time, id) > (mark.start_ns, mark.row_id)`` in that order, at most ``limit``,
  with the mark of the last one, so successive pages never return a span twice. A span
  read back carries what the graph reads — tenant, ids, service, name, kind, times and
  its status code and message as stored — and may leave the rest (attributes, resource,
  scope, events, links) empty.

``otelctx.storage.graph_sql`` implements the protocol on every SQL backend
(``Storage.graph_persistence()``); the server uses that one.

Every method may raise an exception of the backend (``StorageError`` for SQL ones); the
graph nursery logs, counts and retries on its next tick.

:class:`MemoryPersistence` keeps all of it in process memory (bounded per tenant) and
holds no spans unless a test or benchmark adds them with :meth:`MemoryPersistence.add_spans`.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from otelctx.graph.anomalies import Severity
from otelctx.graph.drain import TemplateRecord
from otelctx.graph.investigations import Investigation
from otelctx.graph.summary import GraphSnapshot
from otelctx.model import SpanRecord

MAX_LIST = 100


@dataclass(frozen=True, slots=True, order=True)
class Mark:
    """A position in ``spans`` ordered by (start_time, id)."""

    start_ns: int
    row_id: int


@dataclass(frozen=True, slots=True)
class SpanPage:
    spans: list[SpanRecord]
    mark: Mark  # of the last span returned; the mark asked for when there is none


@dataclass(frozen=True, slots=True)
class InvestigationFilter:
    tenant_id: str
    service: str | None = None
    severity: Severity | None = None
    status: str | None = None
    limit: int = 20


class GraphPersistence(Protocol):
    async def save_investigation(self, inv: Investigation) -> None: ...

    async def list_investigations(self, f: InvestigationFilter) -> list[Investigation]:
        """Newest first; at most ``min(f.limit, MAX_LIST)``."""
        ...

    async def get_investigation(self, tenant_id: str, inv_id: str) -> Investigation | None: ...

    async def save_snapshot(self, snap: GraphSnapshot) -> None: ...

    async def snapshot_at(self, tenant_id: str, at_ns: int) -> GraphSnapshot | None: ...

    async def prune_snapshots(self, cutoff_ns: int) -> int:
        """Delete snapshots (all tenants) created before ``cutoff_ns``; return how many."""
        ...

    async def save_templates(self, tenant_id: str, records: list[TemplateRecord]) -> None:
        """Upsert by (tenant_id, id)."""
        ...

    async def load_templates(self) -> dict[str, list[TemplateRecord]]: ...

    async def spans_since(self, mark: Mark, limit: int) -> SpanPage: ...


def matches(inv: Investigation, f: InvestigationFilter) -> bool:
    if inv.tenant_id != f.tenant_id:
        return False
    if f.service is not None and f.service not in (inv.trigger_service, inv.root_service):
        return False
    if f.severity is not None and inv.severity is not f.severity:
        return False
    return f.status is None or inv.status == f.status


class MemoryPersistence:
    """:class:`GraphPersistence` in memory; ``max_per_tenant`` bounds investigations and
    snapshots of each tenant (oldest dropped first)."""

    def __init__(self, max_per_tenant: int = 1000) -> None:
        self.max_per_tenant = max_per_tenant
        self._investigations: dict[str, OrderedDict[str, Investigation]] = {}
        self._snapshots: dict[str, list[GraphSnapshot]] = {}
        self._templates: dict[str, dict[int, TemplateRecord]] = {}
        self._spans: list[tuple[Mark, SpanRecord]] = []
        self._next_row = 1

    async def save_investigation(self, inv: Investigation) -> None:
        rows = self._investigations.setdefault(inv.tenant_id, OrderedDict())
        rows[inv.id] = inv
        while len(rows) > self.max_per_tenant:
            rows.popitem(last=False)

    async def list_investigations(self, f: InvestigationFilter) -> list[Investigation]:
        rows = self._investigations.get(f.tenant_id, OrderedDict()).values()
        found = sorted((i for i in rows if matches(i, f)), key=lambda i: (-i.created_ns, i.id))
        return found[: min(f.limit, MAX_LIST)]

    async def get_investigation(self, tenant_id: str, inv_id: str) -> Investigation | None:
        rows = self._investigations.get(tenant_id)
        return None if rows is None else rows.get(inv_id)

    async def save_snapshot(self, snap: GraphSnapshot) -> None:
        rows = self._snapshots.setdefault(snap.tenant_id, [])
        bisect.insort(rows, snap, key=lambda s: (s.created_ns, s.id))
        del rows[: max(0, len(rows) - self.max_per_tenant)]

    async def snapshot_at(self, tenant_id: str, at_ns: int) -> GraphSnapshot | None:
        rows = self._snapshots.get(tenant_id, [])
        i = bisect.bisect_right(rows, at_ns, key=lambda s: s.created_ns)
        return rows[i - 1] if i else None

    async def prune_snapshots(self, cutoff_ns: int) -> int:
        dropped = 0
        for rows in self._snapshots.values():
            i = bisect.bisect_left(rows, cutoff_ns, key=lambda s: s.created_ns)
            dropped += i
            del rows[:i]
        return dropped

    async def save_templates(self, tenant_id: str, records: list[TemplateRecord]) -> None:
        rows = self._templates.setdefault(tenant_id, {})
        for r in records:
            rows[r.id] = r

    async def load_templates(self) -> dict[str, list[TemplateRecord]]:
        return {tenant: list(rows.values()) for tenant, rows in self._templates.items() if rows}

    def add_spans(self, spans: list[SpanRecord]) -> None:
        """Make ``spans`` readable by :meth:`spans_since` (as if committed, in this order)."""
        for s in spans:
            entry = (Mark(s.start_time_unix_nano, self._next_row), s)
            self._next_row += 1
            bisect.insort(self._spans, entry, key=lambda e: e[0])

    async def spans_since(self, mark: Mark, limit: int) -> SpanPage:
        i = bisect.bisect_right(self._spans, mark, key=lambda e: e[0])
        page = self._spans[i : i + limit]
        return SpanPage([s for _, s in page], page[-1][0] if page else mark)
