"""Builds the dependencies and runs the root nursery (DESIGN.md "Process shape").

Nesting gives the shutdown order::

    trio_asyncio loop
      storage                       opened first, closed last
        root nursery                signals, samplers, database health, retention, DLQ replay
          graph nursery             graph workers and loops
            pipeline nursery        writer
              ingest nursery        gRPC server, HTTP server

On stop: the servers stop accepting and drain in-flight exports (SHUTDOWN_TIMEOUT);
then the writer's channel closes and it commits everything admitted; then the graph's
channel closes and its workers apply what is queued; then the root nursery's helpers
are cancelled; then storage closes; then the asyncio loop ends.
A second signal cancels everything at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import trio
import trio_asyncio

from otelctx.config import Settings
from otelctx.dbhealth import DbHealth
from otelctx.deps import Deps, Readiness
from otelctx.dlq import DiskQueue
from otelctx.ingest.admission import Admission, Submission
from otelctx.ingest.decoding import open_decoder
from otelctx.ingest.service import Ingest
from otelctx.nurseries.dbhealth import run_db_health
from otelctx.nurseries.dlq import run_dlq_replay
from otelctx.nurseries.gcpace import run_gc_pacer
from otelctx.nurseries.graph import GraphService, run_graph
from otelctx.nurseries.grpc import run_grpc
from otelctx.nurseries.http import run_http
from otelctx.nurseries.retention import run_retention
from otelctx.nurseries.signals import run_signals
from otelctx.nurseries.telemetry import run_lag_sampler, run_pool_sampler
from otelctx.nurseries.writer import WriterState, run_writer
from otelctx.storage import open_storage
from otelctx.telemetry import create_metrics

log = logging.getLogger(__name__)

SERVICES = frozenset({"storage", "writer", "graph", "grpc", "http"})


@dataclass(frozen=True, slots=True)
class Bound:
    grpc_port: int
    http_port: int


async def serve(
    settings: Settings,
    *,
    grpc_port: int | None = None,
    http_port: int | None = None,
    handle_signals: bool = True,
    stop: trio.Event | None = None,
    task_status: trio.TaskStatus[Bound] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run otelctx until ``stop`` is set (or a signal arrives); ports default to the settings.

    ``task_status.started`` reports the bound ports once every service is ready.
    """
    stop = stop or trio.Event()
    metrics = create_metrics(settings.db_driver)
    metrics.admission_max_items.set(settings.ingest_queue_max_items)
    metrics.admission_max_bytes.set(settings.ingest_queue_max_bytes)
    readiness = Readiness(expected=SERVICES)
    async with (
        trio_asyncio.open_loop(),
        open_storage(settings) as storage,
        open_decoder(settings.ingest_decode_workers, metrics) as decoder,
    ):
        readiness.started.add("storage")
        # Admission bounds the items in flight; the channel bound is a backstop.
        send, receive = trio.open_memory_channel[Submission](settings.ingest_queue_max_items)
        admission = Admission(settings.ingest_queue_max_items, settings.ingest_queue_max_bytes)
        metrics.admission_items.set_function(lambda: admission.items)
        metrics.admission_bytes.set_function(lambda: admission.bytes)
        ingest = Ingest(settings, admission, send, metrics, decoder)
        dlq = await trio.to_thread.run_sync(
            partial(
                DiskQueue, Path(settings.dlq_path), max_files=settings.dlq_max_files,
                max_bytes=settings.dlq_max_bytes,
                policy="evict_oldest" if settings.dlq_full_policy == "evict_oldest"
                else "reject",
            )
        )  # fmt: skip
        # investigations, snapshots and Drain templates in the database, which the
        # graph's rebuild also reads the committed spans from
        graph = GraphService(settings, metrics, storage.graph_persistence())
        writer = WriterState(dlq, on_commit=graph.publish)
        db_health = DbHealth(metrics.db_up.labels(driver=storage.driver))
        deps = Deps(settings, storage, metrics, ingest, writer, readiness, db_health, graph)
        async with trio.open_nursery() as root:
            if handle_signals:
                await root.start(run_signals, stop, root.cancel_scope)
            root.start_soon(run_lag_sampler, metrics, name="lag-sampler")
            root.start_soon(run_gc_pacer, name="gc-pacer")
            root.start_soon(run_pool_sampler, storage, metrics, name="pool-sampler")
            root.start_soon(
                run_db_health, storage, db_health, settings.db_health_interval, name="db-health"
            )
            await root.start(run_retention, storage, settings, metrics, name="retention")
            await root.start(run_dlq_replay, storage, dlq, settings, metrics, graph.publish,
                             name="dlq-replay")  # fmt: skip
            async with trio.open_nursery() as graph_nursery:
                await graph_nursery.start(run_graph, graph, name="graph")
                readiness.started.add("graph")
                async with trio.open_nursery() as pipeline:
                    await pipeline.start(
                        partial(run_writer, linger_s=settings.writer_linger), storage,
                        receive, admission, metrics, writer,
                        settings.writer_max_batch_items, name="writer",
                    )  # fmt: skip
                    readiness.started.add("writer")
                    async with send:
                        await _serve_ingest(deps, stop, grpc_port, http_port, task_status)
                log.info("writer drained; draining the graph")
                graph.close()
                # at most GRAPHRAG_EVENT_QUEUE_SIZE events, well under a second; a bound all
                # the same (what is cut off is in the database anyway)
                graph_nursery.cancel_scope.deadline = (
                    trio.current_time() + settings.shutdown_timeout
                )
            log.info("graph drained; stopping")
            root.cancel_scope.cancel()
    log.info("otelctx stopped")


async def _serve_ingest(
    deps: Deps,
    stop: trio.Event,
    grpc_port: int | None,
    http_port: int | None,
    task_status: trio.TaskStatus[Bound],
) -> None:
    settings = deps.settings
    async with trio.open_nursery() as nursery:
        grpc_stop = trio.Event()
        http_stop = trio.Event()
        g = await nursery.start(
            partial(run_grpc, port=settings.grpc_port if grpc_port is None else grpc_port),
            settings, deps.ingest, deps.metrics, grpc_stop, name="grpc",
        )  # fmt: skip
        deps.readiness.started.add("grpc")
        h = await nursery.start(
            partial(run_http, port=settings.http_port if http_port is None else http_port),
            deps, http_stop, name="http",
        )  # fmt: skip
        deps.readiness.started.add("http")
        log.info("otelctx ready: grpc=%s:%d http=%s:%d", settings.listen_host, g,
                 settings.listen_host, h)  # fmt: skip
        task_status.started(Bound(grpc_port=g, http_port=h))
        await stop.wait()
        log.info("stopping: draining in-flight exports (up to %.0f s)", settings.shutdown_timeout)
        deps.readiness.stopping = True
        deps.ingest.closed = True
        grpc_stop.set()
        http_stop.set()
        # Both servers drain under SHUTDOWN_TIMEOUT themselves; this is the backstop.
        nursery.cancel_scope.deadline = trio.current_time() + settings.shutdown_timeout + 5
