"""Probes and metrics: ``/live``, ``/ready``, ``/metrics/prometheus`` (all public)."""

from __future__ import annotations

import trio
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from quart import Blueprint, Response

from otelctx.api.context import deps, json_response
from otelctx.deps import Deps
from otelctx.storage.base import StorageError

blueprint = Blueprint("probes", __name__)

_PING_TIMEOUT_S = 2.0
QUEUE_READY_LIMIT = 0.95


@blueprint.get("/live")
async def live() -> Response:
    return json_response({"status": "alive"})


@blueprint.get("/ready")
async def ready() -> Response:
    """200 only when every supervised service has started, the database answers, the
    ingest queue is at most 95% full and the graph's workers run."""
    d = deps()
    database = "ok"
    with trio.move_on_after(_PING_TIMEOUT_S) as scope:
        try:
            await d.storage.ping()
        except StorageError as exc:
            database = f"unavailable: {exc}"
    if scope.cancelled_caught:
        database = "unavailable: ping timed out"
    # Not gated on the writer's last commit: an instance taken out of rotation after a
    # failed commit would get no exports to prove it recovered, and stay out forever.
    d.db_health.observe(None if database == "ok" else database)
    services = {name: name in d.readiness.started for name in sorted(d.readiness.expected)}
    # Above 95% the queue is about to refuse exports: tell load balancers to send them to
    # an instance with room. It turns back by itself as the writer drains the queue.
    queue_ok = d.ingest.admission.fullness <= QUEUE_READY_LIMIT
    dlq_fullness = 0.0
    if d.writer.dlq is not None:
        dlq_fullness = await trio.to_thread.run_sync(d.writer.dlq.fullness)
    graphrag = _graph_state(d)
    is_ready = (
        d.readiness.all_started
        and database == "ok"
        and queue_ok
        and dlq_fullness <= QUEUE_READY_LIMIT
        and graphrag["state"] in ("ok", "skipped")
    )
    payload = {
        "ready": is_ready,
        "database": database,
        "services": services,
        "stopping": d.readiness.stopping,
        "last_commit_failed": d.writer.last_commit_failed,
        "ingest_queue_fullness": round(d.ingest.admission.fullness, 4),
        "dlq_fullness": round(dlq_fullness, 4),
        "graphrag": graphrag,
    }
    return json_response(payload, 200 if is_ready else 503)


def _graph_state(d: Deps) -> dict[str, object]:
    """``state``: ok (workers running), not running, or skipped (no graph in this app).
    A full graph channel does not make the instance unready: it only drops graph events
    (counted), ingest is unaffected."""
    if d.graph is None:
        return {"state": "skipped"}
    st = d.graph.state()
    return {
        "state": "ok" if st.running else "not running",
        "warm": st.warm,
        "queue_depth": st.queue_depth,
        "queue_fullness": round(st.queue_depth / st.queue_size, 4),
        "tenants": st.tenants,
    }


@blueprint.get("/metrics/prometheus")
async def prometheus() -> Response:
    d = deps()
    return Response(generate_latest(d.metrics.registry), 200, content_type=CONTENT_TYPE_LATEST)
