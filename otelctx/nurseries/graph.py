"""The graph nursery: feeds the per-tenant graphs and runs their loops.

Everything goes through one bounded memory channel holding at most
``GRAPHRAG_EVENT_QUEUE_SIZE`` events (a span, log record or metric point each).
:meth:`GraphService.publish` is called by the writer after a commit (and by the DLQ
replay after it stored a batch): it never blocks; an event that does not fit is dropped
and counted in ``otelcontext_graphrag_events_dropped_total{signal}``, so ingest never
waits for the graph. Events travel in lists of one signal (one channel operation per
list, not per event: per-event sends cost as much as the graph's own work), and the
bound counts events, not lists; an empty queue takes a list whole even when it is
longer than the bound (one group commit larger than the queue is not dropped for its
size alone).

:func:`run_graph` runs ``GRAPHRAG_WORKER_COUNT`` workers on the channel and three loops:

- anomalies (``GRAPHRAG_ANOMALY_INTERVAL``, 10 s): detection per tenant, then
  investigations of error spikes (cooldown ``GRAPHRAG_INVESTIGATION_COOLDOWN``), saved;
- refresh (``GRAPHRAG_REFRESH_INTERVAL``, 60 s; the first pass at once): reads spans back
  from the database after a high-water mark — the whole ``GRAPHRAG_TRACE_TTL`` at start to
  warm the graph, later only after events were dropped (otherwise every span already came
  live and reading them again would double the database's read load for nothing) — then
  prunes every graph and evicts idle tenants;
- snapshots (``GRAPHRAG_SNAPSHOT_INTERVAL``, 15 min): a topology snapshot per tenant,
  snapshots older than 7 days deleted, Drain templates saved.

Resource handling: whoever closes the send side (:meth:`GraphService.close`, after the
writer has drained) ends the workers once they have applied what is queued; the loops
are then cancelled and the Drain templates saved under a shielded, bounded scope.

Error handling: an event that raises is skipped, counted in
``otelcontext_graphrag_bad_events_total{signal}`` and logged with its traceback (at most
one traceback per ``_BAD_LOG_EVERY_S``, so a bug cannot flood the log); a loop pass that
raises is logged and counted in ``otelcontext_internal_errors_total{subsystem="graph"}``
and the loop goes on.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial

import trio

from otelctx.config import Settings
from otelctx.graph.anomalies import AnomalyType, detect
from otelctx.graph.investigate import investigate
from otelctx.graph.investigations import Investigation
from otelctx.graph.limits import NS_PER_S, GraphLimits
from otelctx.graph.persist import GraphPersistence, Mark
from otelctx.graph.summary import SNAPSHOT_RETENTION_NS, snapshot
from otelctx.graph.tenant import GraphRegistry, TenantGraph
from otelctx.model import LogRecord, MetricPoint, SpanRecord
from otelctx.storage.base import WriteBatch
from otelctx.telemetry import Metrics

log = logging.getLogger(__name__)

GraphEvent = SpanRecord | LogRecord | MetricPoint
EventList = list[SpanRecord] | list[LogRecord] | list[MetricPoint]

CHUNK = 256  # events a worker applies between two checkpoints
REBUILD_PAGE = 5000
REBUILD_MAX_PAGES = 40  # per refresh pass; the rest waits for the next one
SAVE_TIMEOUT_S = 10.0
MAX_UNSAVED = 1000
_BAD_LOG_EVERY_S = 10.0


def limits_from(settings: Settings) -> GraphLimits:
    return GraphLimits(
        max_services=settings.graphrag_max_services,
        max_operations=settings.graphrag_max_operations,
        max_spans=settings.graphrag_max_spans,
        max_log_clusters=settings.graphrag_max_log_clusters,
        max_metrics=settings.graphrag_max_metrics,
        max_tenants=settings.graphrag_max_tenants,
        max_pending=max(1000, settings.graphrag_max_spans // 2),
        trace_ttl_ns=int(settings.graphrag_trace_ttl * NS_PER_S),
        tenant_idle_ns=int(settings.graphrag_tenant_idle * NS_PER_S),
        cooldown_ns=int(settings.graphrag_investigation_cooldown * NS_PER_S),
    )


@dataclass(frozen=True, slots=True)
class GraphState:
    """What ``/ready`` shows of the graph."""

    running: bool
    warm: bool
    queue_depth: int
    queue_size: int
    tenants: int


class GraphService:
    """The graph's channel, registry and persistence, shared by the writer, the nursery
    and the API. ``clock`` gives wall-clock nanoseconds (span times are wall clock)."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        persist: GraphPersistence,
        *,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.settings = settings
        self.metrics = metrics.graph
        self.internal_errors = metrics.internal_errors
        self.persist = persist
        self.clock = clock
        self.registry = GraphRegistry(limits_from(settings))
        self.queue_size = settings.graphrag_event_queue_size
        # each list holds at least one event, so the channel never fills before the count
        self._send, self.receive = trio.open_memory_channel[EventList](self.queue_size)
        self._queued = 0  # events in the channel
        self.started_ns = clock()
        self.running = False
        self.warm = False
        self.dropped = 0  # events dropped since start (drives the refresh's catch-up)
        self.dropped_seen = 0  # drops the refresh has caught up with
        # investigations created but not saved yet (persistence failing), oldest first
        self._unsaved: deque[Investigation] = deque(maxlen=MAX_UNSAVED)
        # the rebuild's high-water mark: at start, the whole trace TTL is read back
        self.mark = Mark(self.started_ns - int(settings.graphrag_trace_ttl * NS_PER_S), 0)
        self._last_bad_log = -_BAD_LOG_EVERY_S
        self._bad_suppressed = 0
        for signal in ("span", "log", "metric"):  # present at 0 before the first event
            for counter in (self.metrics.events_dropped, self.metrics.events_processed,
                            self.metrics.bad_events):  # fmt: skip
                counter.labels(signal)
        self.metrics.queue_depth.set_function(self.queue_depth)
        self.metrics.tenants.set_function(lambda: len(self.registry.graphs))
        self.metrics.investigations_unsaved.set_function(lambda: len(self._unsaved))

    def queue_depth(self) -> int:
        return self._queued

    def state(self) -> GraphState:
        return GraphState(self.running, self.warm, self.queue_depth(), self.queue_size,
                          len(self.registry.graphs))  # fmt: skip

    def publish(self, batch: WriteBatch) -> None:
        """Queue the batch's records for the graph without blocking; what does not fit
        is dropped and counted by signal. Never raises."""
        for signal, items in (("span", batch.spans), ("log", batch.logs),
                              ("metric", batch.points)):  # fmt: skip
            if not items:
                continue
            # An empty queue takes a whole list, even beyond the bound: a big group commit
            # is not dropped for its size alone, and the most held stays
            # max(GRAPHRAG_EVENT_QUEUE_SIZE, one commit) (as admission does for requests).
            room = len(items) if self._queued == 0 else self.queue_size - self._queued
            take = min(len(items), room)
            if take > 0:
                try:
                    # the batch's own list when it fits whole: committed rows never change
                    self._send.send_nowait(items if take == len(items) else items[:take])
                    self._queued += take
                except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
                    take = 0
            lost = len(items) - max(take, 0)
            if lost:
                self.dropped += lost
                self.metrics.events_dropped.labels(signal).inc(lost)

    def close(self) -> None:
        """No more events: the workers finish what is queued and return."""
        self._send.close()

    # -- applying events --------------------------------------------------------------------

    def done(self, n: int) -> None:
        """``n`` events left the channel (applied or skipped)."""
        self._queued -= n

    def apply(self, events: Sequence[GraphEvent], now_ns: int) -> None:
        """Apply events to their tenants' graphs; one that raises is skipped and counted."""
        done = {SpanRecord: 0, LogRecord: 0, MetricPoint: 0}
        registry = self.registry
        tenant: str | None = None
        graph: TenantGraph | None = None
        for ev in events:
            kind = type(ev)
            try:
                if ev.tenant_id != tenant or graph is None:  # runs of one tenant are usual
                    graph = registry.graph_for(ev.tenant_id, now_ns)
                    tenant = ev.tenant_id
                if kind is SpanRecord:
                    graph.add_span(ev, now_ns)  # type: ignore[arg-type]
                elif kind is LogRecord:
                    graph.add_log(ev, now_ns)  # type: ignore[arg-type]
                else:
                    graph.add_metric(ev, now_ns)  # type: ignore[arg-type]
            except Exception:
                signal = _SIGNALS.get(kind, "metric")
                self.metrics.bad_events.labels(signal).inc()
                self._log_bad(signal)
                continue
            done[kind] += 1
        for kind, n in done.items():
            if n:
                self.metrics.events_processed.labels(_SIGNALS[kind]).inc(n)

    def _log_bad(self, signal: str) -> None:
        now = time.monotonic()
        if now - self._last_bad_log < _BAD_LOG_EVERY_S:
            self._bad_suppressed += 1
            return
        self._last_bad_log = now
        log.exception("graph: a %s event raised and was skipped (%d more since the last "
                      "report)", signal, self._bad_suppressed)  # fmt: skip
        self._bad_suppressed = 0

    def flush_hits(self) -> None:
        for bound, n in self.registry.take_hits().items():
            self.metrics.bound_hits.labels(bound).inc(n)

    # -- loop passes (one each; the loops in run_graph call them) -------------------------

    async def anomaly_pass(self) -> int:
        """Detect anomalies in every tenant's graph; create and save investigations (one
        whose save fails is kept and saved again on the next pass). Returns how many
        investigations were created."""
        now = self.clock()
        created: list[Investigation] = []
        active: Counter[AnomalyType] = Counter()
        for graph in list(self.registry.graphs.values()):
            seen = detect(graph, now)
            for anomaly in graph.anomalies.active.values():
                active[anomaly.type] += 1
            if seen:
                created += investigate(graph, seen, now)
            await trio.lowlevel.checkpoint()
        for kind in AnomalyType:
            self.metrics.anomalies_active.labels(kind.value).set(active[kind])
        self.metrics.investigations.inc(len(created))
        if len(self._unsaved) + len(created) > MAX_UNSAVED:
            log.error("graph: %d investigations could not be saved and are lost",
                      len(self._unsaved) + len(created) - MAX_UNSAVED)  # fmt: skip
        self._unsaved.extend(created)
        await self.save_investigations()
        self.flush_hits()
        return len(created)

    async def save_investigations(self) -> None:
        """Save what is waiting, oldest first; stop at the first failure (logged)."""
        while self._unsaved:
            try:
                await self.persist.save_investigation(self._unsaved[0])
            except Exception:
                self.internal_errors.labels("graph").inc()
                log.exception("graph: saving %d investigations failed; next try in %.1f s",
                              len(self._unsaved),
                              self.settings.graphrag_anomaly_interval)  # fmt: skip
                return
            self._unsaved.popleft()

    async def refresh_pass(self) -> None:
        """Read spans after the high-water mark when warming up or after drops; prune
        every graph; evict idle tenants (saving their templates)."""
        now = self.clock()
        interval_ns = int(self.settings.graphrag_refresh_interval * NS_PER_S)
        dropped = self.dropped
        if not self.warm or dropped > self.dropped_seen:
            for _ in range(REBUILD_MAX_PAGES):
                page = await self.persist.spans_since(self.mark, REBUILD_PAGE)
                for i in range(0, len(page.spans), CHUNK):
                    for s in page.spans[i : i + CHUNK]:
                        self.registry.add_span(s, now)
                    await trio.lowlevel.checkpoint()
                self.metrics.rebuild_spans.inc(len(page.spans))
                self.mark = page.mark
                if len(page.spans) < REBUILD_PAGE:  # caught up
                    self.dropped_seen = dropped
                    self.warm = True
                    break
        else:
            # Nothing was dropped: everything committed came live. Keep the mark a little
            # behind now, so spans dropped later are found when their export was delayed.
            lag = 2 * max(interval_ns, 60 * NS_PER_S)
            self.mark = max(self.mark, Mark(now - lag, 0))
        for graph in self.registry.prune(now):
            await self._save_templates(graph)
        self.flush_hits()

    async def snapshot_pass(self) -> None:
        now = self.clock()
        for graph in list(self.registry.graphs.values()):
            snap = snapshot(graph, now)
            if snap is not None:
                await self.persist.save_snapshot(snap)
        await self.persist.prune_snapshots(now - SNAPSHOT_RETENTION_NS)
        await self.save_all_templates()

    async def save_all_templates(self) -> None:
        for graph in list(self.registry.graphs.values()):
            await self._save_templates(graph)

    async def _save_templates(self, graph: TenantGraph) -> None:
        records = graph.signals.drain.export()
        if records:
            await self.persist.save_templates(graph.tenant_id, records)


_SIGNALS: dict[type, str] = {SpanRecord: "span", LogRecord: "log", MetricPoint: "metric"}


async def _worker(service: GraphService, receive: trio.MemoryReceiveChannel[EventList]) -> None:
    async with receive:
        async for events in receive:
            for i in range(0, len(events), CHUNK):
                chunk = events[i : i + CHUNK]
                service.apply(chunk, service.clock())
                service.done(len(chunk))
                await trio.lowlevel.checkpoint()


async def _every(
    interval_s: float,
    name: str,
    service: GraphService,
    pass_: Callable[[], Awaitable[object]],
    *,
    first_now: bool = False,
) -> None:
    if not first_now:
        await trio.sleep(interval_s)
    while True:
        try:
            await pass_()
        except Exception:
            service.internal_errors.labels("graph").inc()
            log.exception("graph: %s pass failed; next one in %.1f s", name, interval_s)
        await trio.sleep(interval_s)


async def run_graph(
    service: GraphService,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the workers and the loops until :meth:`GraphService.close` and the queue is
    drained; see the module docstring."""
    settings = service.settings
    try:
        service.registry.preloaded = await service.persist.load_templates()
    except Exception:
        service.internal_errors.labels("graph").inc()
        log.exception("graph: loading Drain templates failed; log cluster ids start afresh")
    try:
        async with trio.open_nursery() as loops:
            loops.start_soon(_every, settings.graphrag_anomaly_interval, "anomaly", service,
                             service.anomaly_pass, name="graph-anomalies")  # fmt: skip
            loops.start_soon(partial(_every, first_now=True), settings.graphrag_refresh_interval,
                             "refresh", service, service.refresh_pass,
                             name="graph-refresh")  # fmt: skip
            loops.start_soon(_every, settings.graphrag_snapshot_interval, "snapshot", service,
                             service.snapshot_pass, name="graph-snapshots")  # fmt: skip
            async with service.receive, trio.open_nursery() as workers:
                for i in range(settings.graphrag_worker_count):
                    workers.start_soon(_worker, service, service.receive.clone(),
                                       name=f"graph-worker-{i}")  # fmt: skip
                service.running = True
                task_status.started()
            # every worker saw the end of the channel: the queue is drained
            loops.cancel_scope.cancel()
    finally:
        service.running = False
        service.flush_hits()
        with trio.CancelScope(shield=True), trio.move_on_after(SAVE_TIMEOUT_S):
            try:
                await service.save_all_templates()
            except Exception:
                service.internal_errors.labels("graph").inc()
                log.exception("graph: saving Drain templates at shutdown failed")
            await service.save_investigations()
