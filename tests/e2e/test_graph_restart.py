"""What the service graph keeps across a restart, end to end on every backend.

A real server gets the 3-tier system of ``test_graph`` (frontend -> orders -> payments,
every other checkout failing in payments) from the real OpenTelemetry SDK, plus error
logs that Drain folds into one template. It is stopped with SIGTERM and a second server
is started on the same database. The second one must list the same investigation and
topology snapshot, rebuild the graph from the stored spans (with their ERROR status),
and put a new line of the old template into the cluster id the first server gave it:
without the templates reloaded, that line would start a template of its own.

Test rules as in ``test_graph``: localhost, port 0, short loop intervals, reads poll up
to a deadline (a wait for correctness, not a speed assertion).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from opentelemetry._logs import SeverityNumber

from tests import backends
from tests.conftest import ServerProcess, start_server
from tests.e2e.test_graph import ENV, eventually, make_system, ok

pytestmark = pytest.mark.timeout(180)

TEMPLATE = "payment declined for <*>"


def emit_declines(srv: ServerProcess, tenant: str, names: list[str]) -> None:
    system = make_system(srv, tenant)
    for name in names:
        system.payments_log.emit(body=f"payment declined for {name}",
                                 severity_number=SeverityNumber.ERROR,
                                 severity_text="ERROR")  # fmt: skip
    system.close()


def decline_cluster(srv: ServerProcess, tenant: str) -> dict[str, Any]:
    found = ok(srv, "/api/graph/correlated?service=payments", tenant)["error_logs"]
    clusters = [c for c in found if c["template"].startswith("payment declined for")]
    assert len(clusters) == 1, clusters
    return dict(clusters[0])


def restart_env(driver: str) -> dict[str, str]:
    """The same database again: start_server resets a server database it is given by
    ``driver``, so name it through the environment instead."""
    if driver == "sqlite":
        return dict(ENV)
    return {**ENV, "DB_DRIVER": driver, "DB_DSN": backends.dsn_for(driver)}


@pytest.mark.parametrize("driver", backends.BACKENDS)
def test_investigations_snapshots_and_log_clusters_survive_a_restart(
    driver: str, tmp_path: Path
) -> None:
    backends.require(driver)
    tenant = f"restart-{uuid.uuid4().hex[:8]}"
    first = start_server(tmp_path, env=ENV, driver=driver)
    try:
        system = make_system(first, tenant)
        traces = [system.checkout(i, fail=i % 2 == 0) for i in range(20)]
        system.close()
        emit_declines(first, tenant, ["alice", "bob"])

        def one_investigation() -> Any:
            found = ok(first, "/api/investigations", tenant)["investigations"]
            assert len(found) == 1
            return found[0]

        inv = eventually(one_investigation, "an investigation of the spike")

        def merged() -> dict[str, Any]:
            cluster = decline_cluster(first, tenant)
            assert cluster["template"] == TEMPLATE and cluster["count"] == 2
            return cluster

        cluster = eventually(merged, "the two declines in one template")

        def a_snapshot() -> Any:
            snap = ok(first, "/api/graph/snapshots", tenant)
            assert snap["service_count"] == 3
            return snap

        snap = eventually(a_snapshot, "a topology snapshot")
    finally:
        assert first.stop() == 0, first.log_text()

    second = start_server(tmp_path, env=restart_env(driver), db_path=first.db_path)
    try:
        assert ok(second, "/api/investigations", tenant)["investigations"] == [inv]
        assert ok(second, f"/api/investigations/{inv['id']}", tenant) == inv
        at = snap["created_at_unix_nano"]
        assert ok(second, f"/api/graph/snapshots?at={at}", tenant) == snap

        def rebuilt() -> None:
            body = ok(second, "/api/graph/service-map", tenant)
            nodes = {n["name"]: n for n in body["nodes"]}
            # read back from the database, with the status the spans were stored with
            assert nodes["payments"]["span_count"] == 20
            assert nodes["payments"]["error_count"] == 10
            edges = {(e["source"], e["target"]) for e in body["edges"]}
            assert edges == {("frontend", "orders"), ("orders", "payments")}

        eventually(rebuilt, "the graph rebuilt from the stored spans")
        deps = ok(second, f"/api/graph/dependency-chain/{traces[0]}", tenant)
        assert deps["spans"][2]["status_code"] == "STATUS_CODE_ERROR"

        emit_declines(second, tenant, ["carol"])

        def same_cluster() -> None:
            again = decline_cluster(second, tenant)
            assert again["template"] == TEMPLATE
            assert again["template_id"] == cluster["template_id"]

        eventually(same_cluster, "the new line in the template of before the restart")
    finally:
        assert second.stop() == 0, second.log_text()
