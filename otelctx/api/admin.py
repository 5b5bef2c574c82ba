"""Operations routes: ``GET /api/stats``, ``GET /api/health``,
``DELETE /api/admin/purge`` and ``POST /api/admin/vacuum``.

``/api/stats`` and the purge act on the request's tenant only; ``/api/health`` and
the vacuum concern the whole server (no tenant data in them).
"""

from __future__ import annotations

import time

import trio
from prometheus_client import Counter
from quart import Blueprint, Response, current_app

from otelctx.api.context import (
    deps,
    error,
    json_response,
    query_args,
    request_identity,
    request_tenant,
)
from otelctx.api.inputs import no_input, purge_input
from otelctx.api.render import purge_view, stats_view
from otelctx.storage.base import StorageError

blueprint = Blueprint("admin", __name__)

STARTED_AT = "otelctx.started_at"  # app.extensions key: time.monotonic() at app creation
_PING_TIMEOUT_S = 2.0
# rejection reasons that clients retry (the data is not lost, only late)
_REFUSALS = frozenset({"overload", "unavailable"})


@blueprint.get("/api/stats")
async def stats() -> Response:
    no_input(query_args())
    s = await deps().storage.stats(request_tenant())
    return json_response(stats_view(s))


@blueprint.get("/api/health")
async def health() -> Response:
    """Always 200 (``/ready`` is the probe that turns 503); ``status`` is ``ok`` or
    ``degraded`` (database unreachable or the last commit failed)."""
    no_input(query_args())
    d = deps()
    database = "unavailable"
    with trio.move_on_after(_PING_TIMEOUT_S):
        try:
            await d.storage.ping()
            database = "ok"
        except StorageError:
            pass
    files, nbytes = 0, 0
    if d.writer.dlq is not None:
        files, nbytes = await trio.to_thread.run_sync(d.writer.dlq.usage)
    admission = d.ingest.admission
    rejected = _by_labels(d.metrics.rejected, ("signal", "reason"))
    healthy = database == "ok" and not d.writer.last_commit_failed
    started = current_app.extensions.get(STARTED_AT, time.monotonic())
    return json_response(
        {
            "status": "ok" if healthy else "degraded",
            "uptime_seconds": round(time.monotonic() - started, 3),
            "database": database,
            "ingest": {
                "queue_items": admission.items,
                "queue_bytes": admission.bytes,
                "queue_max_items": admission.max_items,
                "queue_max_bytes": admission.max_bytes,
                "queue_fullness": round(admission.fullness, 4),
                "accepted_items": _sum_by(_by_labels(d.metrics.accepted, ("signal",)), 0),
                "refused_items": _sum_by(
                    {k: v for k, v in rejected.items() if k[1] in _REFUSALS}, 0
                ),
                "rejected_items": _sum_by(rejected, 1),
                "last_commit_failed": d.writer.last_commit_failed,
            },
            "dlq": {"files": files, "bytes": nbytes},
        }
    )


def _by_labels(counter: Counter, labels: tuple[str, ...]) -> dict[tuple[str, ...], float]:
    """The counter's ``_total`` samples keyed by the values of ``labels``."""
    out: dict[tuple[str, ...], float] = {}
    for family in counter.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                key = tuple(sample.labels.get(name, "") for name in labels)
                out[key] = out.get(key, 0.0) + sample.value
    return out


def _sum_by(values: dict[tuple[str, ...], float], position: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, value in values.items():
        out[key[position]] = out.get(key[position], 0) + int(value)
    return dict(sorted(out.items()))


@blueprint.delete("/api/admin/purge")
async def purge() -> Response:
    """Delete the request tenant's data older than ``days`` days (spans, trace
    summaries, logs, metric points); other tenants are untouched."""
    cutoff = purge_input(query_args(), time.time_ns())
    counts = await deps().storage.purge_tenant(request_tenant(), cutoff)
    return json_response(purge_view(counts, cutoff))


@blueprint.post("/api/admin/vacuum")
async def vacuum() -> Response:
    """The database's upkeep now (the retention pass also runs it daily).

    It concerns the whole database, every tenant: a key bound to one tenant may not run
    it (403); the operator's ``API_KEY`` (or no authentication at all) may. The tenant is
    still resolved, so a request the tenant rules refuse is refused here too."""
    no_input(query_args())
    request_tenant()
    if request_identity().bound:
        return error("vacuum concerns every tenant: it needs the operator key (API_KEY)", 403)
    await deps().storage.maintain()
    return json_response({"status": "ok"})
