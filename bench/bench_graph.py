"""GraphRAG: events per second of the pure graph core, and the graph at 10k spans/s.

Three parts, one process:

1. **Core**: ``GraphRegistry.add_span`` / ``add_log`` on pre-built records (200 services
   in 5 tiers, 480 CALLS edges, 5-span traces down the tiers delivered child first, 2%
   errors; logs of 16 shapes),
   single thread: events/s for one worker (all workers share one thread under Trio, so
   this is also the ceiling of the whole graph).
2. **Memory**: bytes held per span in the trace store and per remembered child
   (tracemalloc), to size ``GRAPHRAG_MAX_SPANS``.
3. **Live**: the real channel and workers (``GraphService`` + ``run_graph`` with the
   default settings: 4 workers, 10,000-event channel, real anomaly/refresh/snapshot loops)
   fed ``--rate`` spans/s for ``--seconds`` in batches every ``--batch-ms`` through
   ``GraphService.publish``, exactly as the writer does after a commit. Prints the events
   dropped and the CPU the process used (``time.process_time``) as a share of one core.
   The records are built before the clock starts, so the figure is the graph's work:
   publish, workers, loops.

    .venv/bin/python bench/bench_graph.py [--seconds 30] [--rate 10000] [--batch-ms 10]
                                          [--live-only] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trio

from otelctx.config import Settings
from otelctx.graph.anomalies import detect
from otelctx.graph.limits import GraphLimits
from otelctx.graph.persist import MemoryPersistence
from otelctx.graph.tenant import GraphRegistry
from otelctx.model import LogRecord, Scope, SpanKind, SpanRecord, StatusCode
from otelctx.nurseries.graph import GraphService, run_graph
from otelctx.storage.base import WriteBatch
from otelctx.telemetry import create_metrics

SERVICES = [f"svc-{i:03d}" for i in range(200)]
OPS = ["GET /items", "POST /orders", "charge", "lookup", "db.query"]
SCOPE = Scope("bench")
NS = 1_000_000_000
TIERS = 5  # 40 services per tier; each calls 3 fixed services of the next tier
CALLEES = {
    svc: [SERVICES[((i // 40) + 1) * 40 + (i * 7 + k * 13) % 40] for k in range(3)]
    for i, svc in enumerate(SERVICES[: (TIERS - 1) * 40])
}


def make_spans(n: int, start_ns: int, rate: float, seed: int = 1) -> list[SpanRecord]:
    """``n`` spans in 5-span traces down a fixed 5-tier call graph (200 services, 480
    edges), children before parents, ending at ``rate`` per second from ``start_ns``."""
    rnd = random.Random(seed)
    spans: list[SpanRecord] = []
    trace = 0
    while len(spans) < n:
        trace += 1
        tid = f"{seed:08x}{trace:024x}"
        chain = [rnd.choice(SERVICES[:40])]
        while len(chain) < TIERS:
            chain.append(rnd.choice(CALLEES[chain[-1]]))
        error = rnd.random() < 0.02
        end = start_ns + int(len(spans) / rate * NS)
        group = []
        for depth, service in enumerate(chain):
            dur = rnd.randint(1, 50) * 1_000_000 * (5 - depth)
            group.append(SpanRecord(
                "bench", tid, f"{trace:08x}{depth:08x}",
                f"{trace:08x}{depth - 1:08x}" if depth else "", service,
                OPS[(trace + depth) % len(OPS)], SpanKind.SERVER, end - dur, end,
                StatusCode.ERROR if error and depth == 4 else StatusCode.UNSET,
                "boom" if error else "", "", {}, {}, SCOPE, (), (),
            ))  # fmt: skip
        spans.extend(reversed(group))  # the deepest child first, as SDK exporters send
    return spans[:n]


def make_logs(n: int, now_ns: int) -> list[LogRecord]:
    rnd = random.Random(2)
    words = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
    shapes = [f"{w} request {{}} from {{}} took {{}} ms" for w in words]
    shapes += [f"worker {w} finished job {{}} for {{}} in {{}} s" for w in
               ("ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen")]  # fmt: skip
    out = []
    for i in range(n):
        body = rnd.choice(shapes).format(i, f"10.0.{i % 255}.{i % 7}", rnd.randint(1, 999))
        out.append(LogRecord("bench", rnd.choice(SERVICES), now_ns, now_ns, 9, "INFO", body,
                             {}, {}, SCOPE, "", "", 0))  # fmt: skip
    return out


def bench_core(n: int) -> None:
    now = time.time_ns()
    spans = make_spans(n, now - 60 * NS, 10_000)
    reg = GraphRegistry(GraphLimits())
    t0 = time.perf_counter()
    for s in spans:
        reg.add_span(s, now)
    span_rate = n / (time.perf_counter() - t0)
    # the same again with the trace store at its bound: every span evicts the oldest trace
    more = make_spans(n, now - 30 * NS, 10_000, seed=2)
    t0 = time.perf_counter()
    for s in more:
        reg.add_span(s, now)
    bound_rate = n / (time.perf_counter() - t0)
    logs = make_logs(n // 5, now)
    t0 = time.perf_counter()
    for r in logs:
        reg.add_log(r, now)
    log_rate = len(logs) / (time.perf_counter() - t0)
    graph = reg.get("bench")
    assert graph is not None
    t0 = time.perf_counter()
    detect(graph, now)
    detect_ms = (time.perf_counter() - t0) * 1000
    print("## core (one worker, one thread)")
    print(f"spans: {span_rate:,.0f} events/s over {n:,} spans "
          f"({len(graph.services.services)} services, {len(graph.services.edges)} edges, "
          f"{graph.traces.span_count:,} spans held)")  # fmt: skip
    print(f"spans at the span bound (each evicting the oldest traces): "
          f"{bound_rate:,.0f} events/s over {n:,} more")  # fmt: skip
    print(f"logs:  {log_rate:,.0f} events/s over {len(logs):,} lines "
          f"({len(graph.signals.drain)} templates)")  # fmt: skip
    print(f"one anomaly pass over {len(graph.services.services)} services: {detect_ms:.1f} ms")


def bench_memory(n: int) -> None:
    now = time.time_ns()
    spans = make_spans(n, now - 60 * NS, 10_000, seed=3)
    reg = GraphRegistry(GraphLimits(max_spans=10 * n))
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for s in spans:
        reg.add_span(s, now)
    held = tracemalloc.get_traced_memory()[0] - base
    graph = reg.get("bench")
    assert graph is not None
    # children whose parent never comes
    orphans = [s for s in make_spans(n, now - 60 * NS, 10_000, seed=4) if s.parent_span_id]
    before = tracemalloc.get_traced_memory()[0]
    pend = GraphRegistry(GraphLimits(max_spans=10 * n, max_pending=10 * n))
    for s in orphans:
        pend.add_span(s, now)
    pgraph = pend.get("bench")
    assert pgraph is not None
    pending_bytes = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    # a pending child costs its span plus the remembered entry
    per_span = held / graph.traces.span_count
    per_pending = pending_bytes / len(orphans) - per_span
    print("## memory")
    print(f"{per_span:,.0f} bytes per held span (service/operation/edge stats included); "
          f"{per_pending:,.0f} bytes per remembered child on top")  # fmt: skip
    spans_mib = per_span * 200_000 / 2**20
    pending_mib = per_pending * 100_000 / 2**20
    print(f"default GRAPHRAG_MAX_SPANS=200000 -> ~{spans_mib:,.0f} MiB per tenant, "
          f"remembered children (<= 100000) ~{pending_mib:,.0f} MiB")


async def live(seconds: float, rate: int, batch_ms: float) -> None:
    settings = Settings()
    metrics = create_metrics("sqlite")
    service = GraphService(settings, metrics, MemoryPersistence())
    batch_every = batch_ms / 1000
    per_batch = max(1, int(rate * batch_every))
    total = int(seconds / batch_every) * per_batch
    start = time.time_ns()
    spans = make_spans(total, start, rate, seed=5)
    batches = [WriteBatch(spans=spans[i : i + per_batch]) for i in range(0, total, per_batch)]
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            pauses[info["generation"]].append(time.perf_counter() - started.pop())

    # the server's collector settings (otelctx.cli), so GC costs are the production ones
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    gc.callbacks.append(on_gc)
    async with trio.open_nursery() as nursery:
        await nursery.start(run_graph, service)
        cpu0, wall0 = time.process_time(), trio.current_time()
        next_at = wall0
        max_depth = 0
        for batch in batches:
            service.publish(batch)
            max_depth = max(max_depth, service.queue_depth())
            next_at += batch_every
            await trio.sleep_until(next_at)
        cpu, wall = time.process_time() - cpu0, trio.current_time() - wall0
        service.close()
    reg = metrics.registry

    def sample(name: str, **labels: str) -> float:
        return reg.get_sample_value(name, labels) or 0.0

    processed = sample("otelcontext_graphrag_events_processed_total", signal="span")
    dropped = sample("otelcontext_graphrag_events_dropped_total", signal="span")
    hits = {s.labels["bound"]: s.value for m in reg.collect() for s in m.samples
            if s.name == "otelcontext_graphrag_bound_hits_total"}  # fmt: skip
    graph = service.registry.get("bench")
    assert graph is not None
    print(f"## live: {rate:,} spans/s for {seconds:.0f} s, a batch of {per_batch:,} every "
          f"{batch_ms:g} ms, through the channel and {settings.graphrag_worker_count} workers "
          f"(default settings)")  # fmt: skip
    print(f"published {total:,}, processed {processed:,.0f}, dropped {dropped:,.0f}; "
          f"deepest queue {max_depth:,} of {settings.graphrag_event_queue_size:,}")  # fmt: skip
    print(f"CPU {cpu:.2f} s over {wall:.2f} s wall = {100 * cpu / wall:.1f}% of one core "
          f"({cpu / total * 1e6:.1f} us per span, publish + workers + loops)")  # fmt: skip
    print(f"held at the end: {graph.traces.span_count:,} spans, "
          f"{graph.pending_count:,} remembered children; bound hits {hits}")  # fmt: skip
    gc.callbacks.remove(on_gc)
    for gen, times in pauses.items():
        if times:
            print(f"GC generation {gen}: {len(times)} passes, longest "
                  f"{max(times) * 1000:.1f} ms")  # fmt: skip
    t0 = time.perf_counter()
    gc.collect()  # the first one also untracks the young tuples it meets
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    gc.collect()
    print(f"a full collection with the graph held (whole process): {first * 1000:.0f} ms, "
          f"then {(time.perf_counter() - t0) * 1000:.0f} ms; {len(gc.get_objects()):,} "
          f"objects tracked")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rate", type=int, default=10_000)
    ap.add_argument("--batch-ms", type=float, default=10.0,
                    help="publish every N ms (a commit's worth of spans each time)")
    ap.add_argument("--live-only", action="store_true")
    ap.add_argument("--quick", action="store_true", help="5 s live run, smaller core runs")
    args = ap.parse_args()
    n = 50_000 if args.quick else 200_000
    if not args.live_only:
        bench_core(n)
        bench_memory(n // 4)
    trio.run(live, 5.0 if args.quick else args.seconds, args.rate, args.batch_ms)


if __name__ == "__main__":
    main()
