"""Readiness follows the database; the gRPC server advertises its stream limit."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest

from tests.conftest import start_server


@pytest.mark.timeout(60)
def test_ready_turns_503_when_the_database_is_gone(tmp_path: Path) -> None:
    srv = start_server(tmp_path)
    try:
        status, body = srv.get("/ready")
        assert status == 200, body
        assert json.loads(body)["services"] == {
            "graph": True, "grpc": True, "http": True, "storage": True, "writer": True,
        }  # fmt: skip
        assert json.loads(body)["graphrag"]["state"] == "ok"
        srv.db_path.unlink()
        status, body = srv.get("/ready")
        assert status == 503
        assert json.loads(body)["database"].startswith("unavailable")
        assert srv.get("/live")[0] == 200
        _, metrics = srv.get("/metrics/prometheus")
        assert b'otelcontext_db_up{driver="sqlite"} 0.0' in metrics
    finally:
        srv.stop()


def _advertised_settings(port: int) -> dict[int, int]:
    """Every setting the server announces in its first second on a new connection."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    seen: dict[int, int] = {}
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(conn.data_to_send())
        try:
            while data := sock.recv(65536):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RemoteSettingsChanged):
                        seen.update({k: v.new_value for k, v in event.changed_settings.items()})
                sock.sendall(conn.data_to_send())
        except TimeoutError:
            pass
    return seen


@pytest.mark.timeout(60)
def test_grpc_advertises_max_concurrent_streams(tmp_path: Path) -> None:
    srv = start_server(tmp_path, env={"GRPC_MAX_CONCURRENT_STREAMS": "37"})
    try:
        # h2's initial SETTINGS frame says 100; ours follows right after it
        settings = _advertised_settings(srv.grpc_port)
        assert settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] == 37
    finally:
        srv.stop()
