"""The load simulator: ``python -m loadtest`` (and ``just loadtest``).

Simulates ``--services`` instrumented services (``loadsim-svc-000`` …), each exporting
OTLP like an SDK's batch processor over its own connection, then checks with
``--verify`` that every acknowledged span was stored.

Rings, as in otelctx:

- pure: ``options`` (flags), ``shape`` (names, operations, errors, trace shapes),
  ``build`` (OTLP requests), ``pacing`` (token bucket, warm-up), ``retry`` (backoff,
  Retry-After), ``stats`` (counters, percentiles, progress and summary lines),
  ``verify`` (windows and loss counting), ``markers`` (Prometheus text, healthy
  markers, server log), ``procstat`` (``/proc`` figures);
- I/O edges: ``transport/`` (gRPC via grpclib, OTLP/HTTP via ``http11``), ``http11``
  (HTTP/1.1 over Trio with h11), ``verifier`` (polls the service map), ``server`` (a
  local ``otelctx serve``);
- orchestration: ``exporter`` (one simulated service), ``runner`` (the Trio program),
  ``run_local`` (``just loadtest``: server, simulator, markers);
- diagnostics: ``profile_server`` (otelctx under cProfile), ``bench_grpc_client``.
"""
