"""GraphRAG: the in-memory, per-tenant service graph behind root-cause analysis.

Pure code (no trio, asyncio, quart or database driver): every function that needs the
time takes ``now_ns``. The nursery ``otelctx.nurseries.graph`` feeds it from the writer
and runs its loops; ``otelctx.api.graph`` answers queries from it.

Modules, inside out: ``window`` (windowed statistics), ``drain`` (log templates),
``services``, ``traces``, ``signals`` and ``anomalies`` (the stores), ``investigations``
(records and cooldown), ``tenant`` (one tenant's graph and the registry of all),
``queries``, ``investigate``, ``summary`` (service map, system graph, snapshots),
``persist`` (what is kept outside memory), ``limits``.
"""
