"""The load simulator: ``python -m loadtest`` (and ``just loadtest``).

Simulates ``--services`` instrumented services (``loadsim-svc-000`` …), each exporting
OTLP like an SDK's batch processor over its own connection, then checks with
``--verify`` that every acknowledged span was stored.

Rings, as in otelctx: pure modules (``options``, ``shape``, ``spans``, ``pacing``,
``retry``, ``stats``, ``verify``, ``markers``, ``procstat``) import no trio, asyncio or
driver; I/O edges live in ``transport/`` and ``http11``; orchestration in ``runner``
(the Trio program) and ``run_local`` (starts a server, runs the simulator, prints the
healthy markers).
"""
