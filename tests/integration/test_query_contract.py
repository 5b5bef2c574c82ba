"""The query half of the storage contract, run against every backend available.

Data is built as model records, written through ``Storage.write`` and read back through
the query methods. Trace and log searches are checked against a reference written here
in plain Python (``expected_traces``/``expected_logs``): every filter alone and combined,
both sort orders, and pages that concatenate to the full ordered list. The rest checks
known numbers: histogram percentiles of a known distribution, a service map written
child before parent, dashboard figures, stats, purges. Every method is called for a
second tenant that must see none of the first one's data, and with SQL metacharacters
in every string parameter, which must find nothing and raise nothing.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from otelctx.model import LogRecord, MetricPoint, MetricType, Scope, SpanRecord, StatusCode
from otelctx.storage import plans
from otelctx.storage.base import Storage, WriteBatch
from otelctx.storage.queries import LogQuery, MetricQuery, TraceQuery, TraceRow, TraceSort
from tests import backends
from tests.integration.test_storage_contract import T0, one_span_trace, open_backend, span

MS = 1_000_000
SEC = 1_000_000_000
SERVICES = ("frontend", "checkout", "payments", "search", "db")
OPERATIONS = ("GET /", "POST /pay", "charge", "query", "render")
ATTRIBUTE_VALUES: dict[str, Sequence[Any]] = {
    "http.status_code": (200, 404, 500),
    "retry": (True, False),
    "ratio": (0.5, 0.25),
    "user": ("alice", "bob", "Alice"),
}
METACHARACTERS = ("%", "_", "'", '"', ";", "\\", "--", "%_%", "' OR '1'='1", "a\x00b")


@pytest.fixture(params=backends.BACKENDS)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    backends.require(request.param)
    async with open_backend(request.param, tmp_path) as s:
        yield s


# -- data -------------------------------------------------------------------------------------


def make_traces(tenant: str, n: int = 60, seed: int = 1) -> list[list[SpanRecord]]:
    """``n`` traces of 1-4 spans, a chain root -> child -> ..., with random services,
    operations, statuses, durations and attributes; some share a start time."""
    rnd = random.Random(seed)
    traces = []
    for i in range(n):
        trace_id = f"{rnd.getrandbits(128):032x}"
        start = T0 + (i // 3) * SEC  # three traces per start time: ties for the tiebreak
        spans = []
        for j in range(rnd.randint(1, 4)):
            attrs = {k: rnd.choice(v) for k, v in ATTRIBUTE_VALUES.items() if rnd.random() < 0.6}
            s = span(
                trace=trace_id, span_id=f"{j + 1:016x}", parent="" if j == 0 else f"{j:016x}",
                tenant=tenant, service=rnd.choice(SERVICES), name=rnd.choice(OPERATIONS),
                start=start + j * MS, duration=rnd.randint(1, 500) * MS,
                status=rnd.choice([StatusCode.UNSET] * 3 + [StatusCode.OK, StatusCode.ERROR]),
            )  # fmt: skip
            spans.append(dataclasses.replace(s, attributes=attrs))
        traces.append(spans)
    return traces


def attribute_text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def trace_matches(spans: list[SpanRecord], q: TraceQuery) -> bool:
    start = min(s.start_time_unix_nano for s in spans)
    duration = max(s.end_time_unix_nano for s in spans) - start
    status = max(s.status_code for s in spans)
    if spans[0].tenant_id != q.tenant_id:
        return False
    if (q.start_ns is not None and start < q.start_ns) or (q.end_ns is not None
                                                           and start >= q.end_ns):  # fmt: skip
        return False
    if q.status is not None and status != q.status:
        return False
    if q.min_duration_ns is not None and duration < q.min_duration_ns:
        return False
    if q.max_duration_ns is not None and duration > q.max_duration_ns:
        return False

    def span_ok(s: SpanRecord) -> bool:
        return (
            (not q.services or s.service_name in q.services)
            and (q.operation is None or s.name == q.operation)
            and all(k in s.attributes and attribute_text(s.attributes[k]) == v
                    for k, v in q.attributes)
        )

    return any(span_ok(s) for s in spans)


def expected_traces(traces: list[list[SpanRecord]], q: TraceQuery) -> list[str]:
    found = [t for t in traces if trace_matches(t, q)]

    def key(spans: list[SpanRecord]) -> tuple[int, str]:
        start = min(s.start_time_unix_nano for s in spans)
        if q.sort is TraceSort.DURATION:
            return max(s.end_time_unix_nano for s in spans) - start, spans[0].trace_id
        return start, spans[0].trace_id

    found.sort(key=key, reverse=q.descending)
    return [t[0].trace_id for t in found]


async def all_pages(storage: Storage, q: TraceQuery, size: int) -> tuple[list[TraceRow], int]:
    out: list[TraceRow] = []
    totals = set()
    offset = 0
    while True:
        page = await storage.search_traces(dataclasses.replace(q, limit=size, offset=offset))
        totals.add(page.total)
        out += page.items
        if len(page.items) < size:
            break
        offset += size
    assert len(totals) == 1, "the total does not change from page to page"
    return out, totals.pop()


async def write_traces(storage: Storage, traces: list[list[SpanRecord]]) -> None:
    await storage.write(WriteBatch(spans=[s for t in traces for s in t]))


# -- traces -----------------------------------------------------------------------------------


def trace_queries(tenant: str) -> list[TraceQuery]:
    q = TraceQuery(tenant_id=tenant, limit=1000)
    r = dataclasses.replace
    return [
        q,
        r(q, descending=False),
        r(q, sort=TraceSort.DURATION),
        r(q, sort=TraceSort.DURATION, descending=False),
        r(q, services=("checkout",)),
        r(q, services=("checkout", "db")),
        r(q, operation="charge"),
        r(q, services=("payments",), operation="charge"),
        r(q, attributes=(("user", "alice"),)),
        r(q, attributes=(("user", "ALICE"),)),
        r(q, attributes=(("http.status_code", "500"),)),
        r(q, attributes=(("retry", "true"),)),
        r(q, attributes=(("retry", "false"), ("ratio", "0.5"))),
        r(q, attributes=(("http.status_code", "404"), ("user", "bob"))),
        r(q, services=("frontend",), attributes=(("http.status_code", "200"),)),
        r(q, status=StatusCode.ERROR),
        r(q, status=StatusCode.OK),
        r(q, status=StatusCode.UNSET),
        r(q, min_duration_ns=200 * MS),
        r(q, max_duration_ns=100 * MS),
        r(q, min_duration_ns=100 * MS, max_duration_ns=300 * MS, sort=TraceSort.DURATION),
        r(q, start_ns=T0 + 5 * SEC, end_ns=T0 + 12 * SEC),
        r(q, start_ns=T0 + 5 * SEC, sort=TraceSort.DURATION),
        r(q, end_ns=T0 + 12 * SEC, sort=TraceSort.DURATION, descending=False),
        r(q, start_ns=T0 + 5 * SEC),
        r(q, end_ns=T0 + 3 * SEC),
        r(q, start_ns=T0 + 2 * SEC, end_ns=T0 + 15 * SEC, services=("search",),
          status=StatusCode.ERROR, descending=False),
        r(q, services=("nope",)),
        r(q, attributes=(("missing", "x"),)),
    ]


async def test_search_traces_matches_the_reference(storage: Storage) -> None:
    traces = make_traces("t1")
    await write_traces(storage, traces)
    await write_traces(storage, make_traces("t2", seed=2))  # another tenant's noise
    by_id = {t[0].trace_id: t for t in traces}
    for q in trace_queries("t1"):
        want = expected_traces(traces, q)
        page = await storage.search_traces(q)
        assert [r.summary.trace_id for r in page.items] == want, q
        assert page.total == len(want), q
        for row in page.items:
            spans = by_id[row.summary.trace_id]
            assert row.services == sorted({s.service_name for s in spans})
            assert row.summary.span_count == len(spans)
            assert row.summary.root_service == spans[0].service_name
            assert row.summary.tenant_id == "t1"


async def test_trace_pages_concatenate_to_the_whole_list(storage: Storage) -> None:
    traces = make_traces("t1")
    await write_traces(storage, traces)
    for q in trace_queries("t1")[:8]:
        want = expected_traces(traces, q)
        for size in (1, 7, 20):
            got, total = await all_pages(storage, q, size)
            ids = [r.summary.trace_id for r in got]
            assert ids == want, (q, size)
            assert len(set(ids)) == len(ids)
            assert total == len(want)
    # an offset past the end: no items, the total still counted
    past = await storage.search_traces(TraceQuery(tenant_id="t1", offset=10_000))
    assert (past.items, past.total) == ([], len(traces))


async def test_span_filters_hold_on_one_span(storage: Storage) -> None:
    # service A's span does "x", service B's span does "y": (A, y) matches no span
    a = span(trace="e" * 32, span_id="1" * 16, service="svc-a", name="x")
    b = span(trace="e" * 32, span_id="2" * 16, parent="1" * 16, service="svc-b", name="y")
    b = dataclasses.replace(b, attributes={"k": "v"})
    await storage.write(WriteBatch(spans=[a, b]))
    q = TraceQuery(tenant_id="t1")
    r = dataclasses.replace
    assert (await storage.search_traces(r(q, services=("svc-a",), operation="y"))).total == 0
    assert (await storage.search_traces(r(q, services=("svc-b",), operation="y"))).total == 1
    assert (await storage.search_traces(r(q, operation="x", attributes=(("k", "v"),)))).total == 0
    assert (await storage.search_traces(r(q, operation="y", attributes=(("k", "v"),)))).total == 1


async def test_attribute_keys_with_dots_and_quotes(storage: Storage) -> None:
    attrs = {"a.b.c": "dotted", 'q"uote': "quoted", "back\\slash": 7, "emoji 😀": True,
             "city": "Zürich", "esc": 'a"b\\c\n', "n": None, "f": 1e20, 'q"f': 0.5}
    s = dataclasses.replace(span(trace="f" * 32), attributes=attrs)
    await storage.write(WriteBatch(spans=[s]))
    for key, value in (("a.b.c", "dotted"), ('q"uote', "quoted"), ("back\\slash", "7"),
                       ("emoji 😀", "true"), ("city", "Zürich"), ("esc", 'a"b\\c\n'),
                       ("f", attribute_text(1e20)), ('q"f', "0.5")):  # fmt: skip
        page = await storage.search_traces(TraceQuery(tenant_id="t1", attributes=((key, value),)))
        assert page.total == 1, key
        miss = await storage.search_traces(TraceQuery(tenant_id="t1", attributes=((key, "no"),)))
        assert miss.total == 0, key


# -- logs -------------------------------------------------------------------------------------

WORDS = ("Error", "timeout", "connection", "refused", "OK", "db", "50%", "a_b", "user", "x")


def make_logs(tenant: str, n: int = 120, seed: int = 3) -> list[LogRecord]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        body: Any = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(1, 4)))
        if i % 10 == 0:
            body = {"msg": body, "code": i}
        out.append(LogRecord(
            tenant_id=tenant, service_name=rnd.choice(SERVICES),
            time_unix_nano=T0 + (i // 4) * SEC,  # four logs per timestamp: ties
            observed_time_unix_nano=T0, severity_number=rnd.choice((5, 9, 13, 17, 21)),
            severity_text="", body=body, attributes={"i": i}, resource={},
            scope=Scope("s", "1", {}), trace_id=f"{i % 7:032x}", span_id="1" * 16, flags=0,
        ))  # fmt: skip
    return out


def body_text(r: LogRecord) -> str:
    return r.body if isinstance(r.body, str) else orjson.dumps(r.body).decode()


def expected_logs(logs: list[LogRecord], q: LogQuery) -> list[int]:
    """Indices into ``logs`` (their insertion order), sorted as the query asks."""
    found = [
        i for i, r in enumerate(logs)
        if r.tenant_id == q.tenant_id
        and (not q.services or r.service_name in q.services)
        and (q.min_severity is None or r.severity_number >= q.min_severity)
        and (not q.search or q.search.lower() in body_text(r).lower())
        and (q.trace_id is None or r.trace_id == q.trace_id)
        and (q.start_ns is None or r.time_unix_nano >= q.start_ns)
        and (q.end_ns is None or r.time_unix_nano < q.end_ns)
    ]  # fmt: skip
    found.sort(key=lambda i: (logs[i].time_unix_nano, i), reverse=q.descending)
    return found


def log_queries(tenant: str) -> list[LogQuery]:
    q = LogQuery(tenant_id=tenant, limit=1000)
    r = dataclasses.replace
    return [
        q,
        r(q, descending=False),
        r(q, services=("db", "search")),
        r(q, min_severity=17),
        r(q, search="error"),  # FTS (>= 3 characters), case-insensitive
        r(q, search="ERROR TIMEOUT"),
        r(q, search="TimeOut"),
        r(q, search="db"),  # short: LIKE
        r(q, search="x"),
        r(q, search="50%"),  # % and _ are literal
        r(q, search="%"),
        r(q, search="a_b"),
        r(q, search="_"),
        r(q, search='"msg"'),  # JSON bodies are searched as JSON text
        r(q, trace_id=f"{3:032x}"),
        r(q, start_ns=T0 + 5 * SEC, end_ns=T0 + 9 * SEC),
        r(q, services=("frontend",), min_severity=9, search="o", descending=False),
        r(q, search="nothing like it"),
    ]


async def test_search_logs_matches_the_reference(storage: Storage) -> None:
    logs = make_logs("t1")
    await storage.write(WriteBatch(logs=logs[:50]))
    await storage.write(WriteBatch(logs=make_logs("t2", seed=4)))
    await storage.write(WriteBatch(logs=logs[50:]))
    for q in log_queries("t1"):
        want = [logs[i] for i in expected_logs(logs, q)]
        page = await storage.search_logs(q)
        assert page.items == want, q
        assert page.total == len(want), q


async def test_log_pages_concatenate_to_the_whole_list(storage: Storage) -> None:
    logs = make_logs("t1")
    await storage.write(WriteBatch(logs=logs))
    for q in log_queries("t1")[:6]:
        want = [logs[i] for i in expected_logs(logs, q)]
        for size in (1, 9):
            got: list[LogRecord] = []
            offset = 0
            while True:
                page = await storage.search_logs(dataclasses.replace(q, limit=size, offset=offset))
                assert page.total == len(want)
                got += page.items
                if len(page.items) < size:
                    break
                offset += size
            assert got == want, (q, size)


async def test_log_context_is_the_nearest_logs_oldest_first(storage: Storage) -> None:
    logs = make_logs("t1")  # four logs per second from T0 to T0 + 29 s
    await storage.write(WriteBatch(logs=logs))
    await storage.write(WriteBatch(logs=make_logs("t2", seed=9)))
    at = T0 + 10 * SEC
    got = await storage.log_context("t1", at, 3 * SEC, 6)
    # before: the 6 nearest of the 12 in [7 s, 10 s); from 10 s on: the first 6 of 16
    before = [r for r in logs if at - 3 * SEC <= r.time_unix_nano < at][-6:]
    after = [r for r in logs if at <= r.time_unix_nano <= at + 3 * SEC][:6]
    assert got == before + after
    wide = await storage.log_context("t1", at, 3 * SEC, 1000)
    assert wide == [r for r in logs if at - 3 * SEC <= r.time_unix_nano <= at + 3 * SEC]
    assert await storage.log_context("t3", at, 3 * SEC, 10) == []


async def test_log_search_stays_in_step_with_purges(storage: Storage) -> None:
    old = dataclasses.replace(make_logs("t1")[1], body="ancient needle", time_unix_nano=T0 - SEC)
    new = dataclasses.replace(old, body="fresh needle", time_unix_nano=T0 + SEC)
    other = dataclasses.replace(old, tenant_id="t2", body="t2 needle")
    await storage.write(WriteBatch(logs=[old, new, other]))
    q = LogQuery(tenant_id="t1", search="NEEDLE")
    bodies = [r.body for r in (await storage.search_logs(q)).items]
    assert bodies == ["fresh needle", "ancient needle"]
    counts = await storage.purge_tenant("t1", T0)
    assert counts.logs == 1
    assert [r.body for r in (await storage.search_logs(q)).items] == ["fresh needle"]
    assert await storage.purge_batch("logs", T0 + 2 * SEC, 100) == 2  # t1's and t2's
    assert (await storage.search_logs(q)).items == []
    assert (await storage.search_logs(LogQuery(tenant_id="t2", search="needle"))).total == 0
    # logs written after the purges are found again (the index was not left stale)
    await storage.write(WriteBatch(logs=[dataclasses.replace(new, body="new needle")]))
    assert [r.body for r in (await storage.search_logs(q)).items] == ["new needle"]


# -- metrics ----------------------------------------------------------------------------------


def metric(
    kind: MetricType, t: int, *, name: str = "m", service: str = "checkout", tenant: str = "t1",
    value: float | None = None, count: int | None = None, sum_: float | None = None,
    min_: float | None = None, max_: float | None = None, data: dict[str, Any] | None = None,
) -> MetricPoint:  # fmt: skip
    return MetricPoint(
        tenant_id=tenant, service_name=service, name=name, description="", unit="ms",
        metric_type=kind, time_unix_nano=t, start_time_unix_nano=t - SEC, attributes={},
        resource={}, scope=Scope(), value=value, count=count, sum=sum_, min=min_, max=max_,
        data=data or {},
    )  # fmt: skip


def histogram_of(values: list[int], t: int, bounds: list[float], **kw: Any) -> MetricPoint:
    counts = [0] * (len(bounds) + 1)
    for v in values:
        counts[sum(v > b for b in bounds)] += 1
    return metric(MetricType.HISTOGRAM, t, count=len(values), sum_=float(sum(values)),
                  min_=float(min(values)), max_=float(max(values)),
                  data={"bucket_counts": counts, "explicit_bounds": bounds}, **kw)  # fmt: skip


async def test_gauge_buckets_aggregate_values(storage: Storage) -> None:
    step = 10 * SEC
    base = T0 - T0 % step
    points = [metric(MetricType.GAUGE, base + i * SEC, value=float(i)) for i in range(25)]
    points.append(metric(MetricType.GAUGE, base + 5 * SEC, value=100.0, service="other"))
    points.append(metric(MetricType.GAUGE, base, value=-1.0, name="other.metric"))
    points.append(metric(MetricType.GAUGE, base, value=-1.0, tenant="t2"))
    await storage.write(WriteBatch(points=points))
    q = MetricQuery("t1", "m", "checkout", base, base + 60 * SEC, step)
    got = await storage.metric_buckets(q)
    assert [(b.time_ns - base, b.min, b.max, b.sum, b.count) for b in got] == [
        (0, 0.0, 9.0, 45.0, 10), (step, 10.0, 19.0, 145.0, 10), (2 * step, 20.0, 24.0, 110.0, 5),
    ]  # fmt: skip
    assert all(b.p50 is None for b in got)
    every = await storage.metric_buckets(dataclasses.replace(q, service=None))
    assert (every[0].max, every[0].count) == (100.0, 11)
    # buckets align to multiples of the step, not to the window's start
    shifted = await storage.metric_buckets(dataclasses.replace(q, start_ns=base + 3 * SEC))
    assert [b.time_ns - base for b in shifted] == [0, step, 2 * step]
    assert shifted[0].count == 7
    assert await storage.metric_buckets(dataclasses.replace(q, tenant_id="t3")) == []


async def test_histogram_percentiles_of_a_known_distribution(storage: Storage) -> None:
    step = 60 * SEC
    base = T0 - T0 % step
    bounds = [100.0 * k for k in range(1, 10)]
    values = list(range(1, 1001))  # 1..1000: p50 500, p95 950, p99 990
    random.Random(5).shuffle(values)
    # ten points of 100 values each, all in one bucket of the query
    points = [histogram_of(values[i : i + 100], base + i * 10**7, bounds) for i in range(0, 1000,
                                                                                         100)]
    await storage.write(WriteBatch(points=points))
    (b,) = await storage.metric_buckets(MetricQuery("t1", "m", None, base, base + step, step))
    assert (b.count, b.sum, b.min, b.max) == (1000, 500500.0, 1.0, 1000.0)
    assert b.p50 == pytest.approx(500, abs=1)
    assert b.p95 == pytest.approx(950, abs=1)
    assert b.p99 == pytest.approx(990, abs=1)


async def test_exponential_histogram_and_summary_percentiles(storage: Storage) -> None:
    step = 60 * SEC
    base = T0 - T0 % step
    # scale 0: bucket i holds (2**i, 2**(i+1)]; 10 values in each of (1,2], (2,4], ..., (512,1024]
    exp = metric(MetricType.EXPONENTIAL_HISTOGRAM, base, count=100, sum_=1.0, min_=1.5,
                 max_=1000.0, data={"scale": 0, "zero_count": 0, "zero_threshold": 0.0,
                                    "positive": {"offset": 0, "bucket_counts": [10] * 10},
                                    "negative": {"offset": 0, "bucket_counts": []}},
                 name="exp")  # fmt: skip
    summaries = [
        metric(MetricType.SUMMARY, base + i, count=10, sum_=100.0, name="sum",
               data={"quantiles": [{"quantile": 0.5, "value": 10.0 + i},
                                   {"quantile": 0.9, "value": 50.0 + i},
                                   {"quantile": 0.99, "value": 90.0 + i}]})
        for i in range(3)
    ]  # fmt: skip
    await storage.write(WriteBatch(points=[exp, *summaries]))
    (e,) = await storage.metric_buckets(MetricQuery("t1", "exp", None, base, base + step, step))
    assert e.count == 100
    assert e.p50 == pytest.approx(32.0)  # 50 of 100 reached at the top of (16, 32]
    assert e.p99 == pytest.approx(512 + 0.9 * (1000 - 512))  # last bucket narrowed to max
    (s,) = await storage.metric_buckets(MetricQuery("t1", "sum", None, base, base + step, step))
    assert (s.count, s.sum) == (30, 300.0)
    # the largest reported value of the quantile, or of the nearest one (0.95 -> 0.99)
    assert (s.p50, s.p95, s.p99) == (12.0, 92.0, 92.0)


async def test_list_services_and_metric_names(storage: Storage) -> None:
    await storage.write(WriteBatch(
        spans=[span(service="zeta"), span(span_id="2" * 16, service="alpha")],
        logs=[dataclasses.replace(make_logs("t1")[0], service_name="logs-only")],
        points=[metric(MetricType.GAUGE, T0, value=1.0, service="metrics-only", name="b.m"),
                metric(MetricType.GAUGE, T0, value=1.0, service="alpha", name="a.m"),
                metric(MetricType.GAUGE, T0, value=1.0, service="alpha", name="c.m"),
                metric(MetricType.GAUGE, T0, value=1.0, service="x", name="t2.m", tenant="t2")],
    ))  # fmt: skip
    assert await storage.list_services("t1") == ["alpha", "logs-only", "metrics-only", "zeta"]
    assert await storage.list_metric_names("t1", None) == ["a.m", "b.m", "c.m"]
    assert await storage.list_metric_names("t1", "alpha") == ["a.m", "c.m"]
    assert await storage.list_metric_names("t1", "zeta") == []
    assert await storage.list_services("t3") == []


# -- dashboard, traffic, heatmap, p99 ---------------------------------------------------------


def root_trace(i: int, service: str, duration_ms: int, status: StatusCode, **kw: Any) -> SpanRecord:
    return span(trace=f"{i:032x}", service=service, start=T0 + i * MS, duration=duration_ms * MS,
                status=status, **kw)  # fmt: skip


async def test_dashboard_traffic_and_latency_points(storage: Storage) -> None:
    E, U = StatusCode.ERROR, StatusCode.UNSET
    spec = [("a", 10, E), ("a", 20, E), ("a", 30, U), ("b", 40, E), ("b", 50, E),
            ("c", 60, E), ("d", 70, U), ("e", 80, E), ("f", 90, E), ("g", 100, E)]  # fmt: skip
    spans = [root_trace(i, s, d, st) for i, (s, d, st) in enumerate(spec)]
    spans.append(root_trace(50, "a", 999, E, tenant="t2"))
    spans.append(dataclasses.replace(root_trace(60, "a", 999, E), start_time_unix_nano=T0 - SEC,
                                     end_time_unix_nano=T0))  # before the window  # fmt: skip
    logs = [dataclasses.replace(r, time_unix_nano=T0 + i, service_name="abcdefgh"[i % 8])
            for i, r in enumerate(make_logs("t1"))]  # fmt: skip
    await storage.write(WriteBatch(spans=spans, logs=logs))
    end = T0 + SEC
    d = await storage.dashboard("t1", T0, end, ())
    assert (d.total_traces, d.total_errors, d.active_services) == (10, 8, 7)
    assert d.avg_duration_ns == pytest.approx(55 * MS)
    assert d.total_logs == len(logs)
    # worst first, then by name; at most five
    assert [(f.service_name, f.error_count, f.total_count) for f in d.top_failing] == [
        ("a", 2, 3), ("b", 2, 2), ("c", 1, 1), ("e", 1, 1), ("f", 1, 1)]  # fmt: skip
    only = await storage.dashboard("t1", T0, end, ("a", "d"))
    assert (only.total_traces, only.total_errors, only.active_services) == (4, 2, 2)
    assert only.total_logs == sum(r.service_name in ("a", "d") for r in logs)
    assert [f.service_name for f in only.top_failing] == ["a"]
    empty = await storage.dashboard("t3", T0, end, ())
    assert (empty.total_traces, empty.total_logs, empty.avg_duration_ns) == (0, 0, None)
    assert empty.top_failing == []

    step = 3 * MS
    buckets = await storage.traffic("t1", T0, end, step, ())
    assert sum(b.count for b in buckets) == 10
    assert sum(b.error_count for b in buckets) == 8
    assert all(b.time_ns % step == 0 for b in buckets)
    assert [b.time_ns for b in buckets] == sorted({(T0 + i * MS) // step * step for i in range(10)})
    assert sum(b.count for b in await storage.traffic("t1", T0, end, step, ("b",))) == 2

    points = await storage.latency_points("t1", T0, end, (), 4)
    assert [p.trace_id for p in points] == [f"{i:032x}" for i in (9, 8, 7, 6)]
    assert [(p.duration_ns, p.is_error) for p in points[2:]] == [(80 * MS, True), (70 * MS, False)]
    assert points[0].time_ns == T0 + 9 * MS
    assert [p.trace_id for p in await storage.latency_points("t1", T0, end, ("c",), 10)] == [
        f"{5:032x}"]  # fmt: skip
    assert await storage.latency_points("t3", T0, end, (), 10) == []


async def test_p99_with_a_root_service_filter_is_exact(storage: Storage) -> None:
    # service a: 1..200 ms (p99 = 198 ms), b: 1000..1099 ms
    spans = [root_trace(i, "a", i + 1, StatusCode.UNSET) for i in range(200)]
    spans += [root_trace(1000 + i, "b", 1000 + i, StatusCode.UNSET) for i in range(100)]
    await storage.write(WriteBatch(spans=spans))
    end = T0 + 10 * SEC
    a = await storage.p99_duration("t1", T0, end, row_cap=200_000, services=("a",))
    assert (a.value_ns, a.rows) == (198 * MS, 200)
    b = await storage.p99_duration("t1", T0, end, row_cap=200_000, services=("b",))
    assert (b.value_ns, b.rows) == (1098 * MS, 100)
    both = await storage.p99_duration("t1", T0, end, row_cap=200_000, services=("a", "b"))
    assert both.rows == 300 and both.value_ns == 1096 * MS  # rank 297 of 300
    none = await storage.p99_duration("t1", T0, end, row_cap=200_000, services=("zzz",))
    assert (none.value_ns, none.rows) == (None, 0)


# -- service map ------------------------------------------------------------------------------


async def test_service_map_edges_with_children_written_first(storage: Storage) -> None:
    E, U = StatusCode.ERROR, StatusCode.UNSET
    spans: list[SpanRecord] = []
    for i in range(4):  # frontend -> checkout -> payments, checkout -> checkout (same service)
        trace = f"{0xABC0 + i:032x}"
        spans += [
            span(trace=trace, span_id="1" * 16, service="frontend", duration=100 * MS),
            span(trace=trace, span_id="2" * 16, parent="1" * 16, service="checkout",
                 duration=(40 + i) * MS, status=E if i == 0 else U),
            span(trace=trace, span_id="3" * 16, parent="2" * 16, service="payments",
                 duration=10 * MS, status=E),
            span(trace=trace, span_id="4" * 16, parent="2" * 16, service="checkout",
                 duration=1 * MS),
        ]  # fmt: skip
    # children arrive in a batch before their parents
    children = [s for s in spans if s.parent_span_id]
    roots = [s for s in spans if not s.parent_span_id]
    await storage.write(WriteBatch(spans=children[::-1]))
    await storage.write(WriteBatch(spans=roots))
    await storage.write(WriteBatch(spans=[dataclasses.replace(s, tenant_id="t2") for s in spans]))
    got = await storage.service_map("t1", T0 - SEC, T0 + SEC)
    assert [(n.name, n.span_count, n.error_count) for n in got.nodes] == [
        ("checkout", 8, 1), ("frontend", 4, 0), ("payments", 4, 4)]  # fmt: skip
    assert got.nodes[1].avg_duration_ns == pytest.approx(100 * MS)
    edges = [(e.source, e.target, e.call_count, e.error_count) for e in got.edges]
    assert edges == [("checkout", "payments", 4, 4), ("frontend", "checkout", 4, 1)]
    assert got.edges[1].avg_duration_ns == pytest.approx(41.5 * MS)
    assert got.sample_rate == 1.0
    later = await storage.service_map("t1", T0 + SEC, T0 + 2 * SEC)
    assert (later.nodes, later.edges) == ([], [])
    assert (await storage.service_map("t3", T0 - SEC, T0 + SEC)).nodes == []


async def test_a_service_map_over_the_cap_is_an_even_sample_scaled_up(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plans, "SERVICE_MAP_SPAN_CAP", 300)
    spans = []
    for i in range(1500):  # 3000 spans: frontend -> checkout, every 10th child in error
        trace = f"{0xF00000 + i:032x}"
        spans += [
            span(trace=trace, span_id="1" * 16, service="frontend", start=T0 + i,
                 duration=100 * MS),
            span(trace=trace, span_id="2" * 16, parent="1" * 16, service="checkout",
                 start=T0 + i, duration=(10 + i % 3) * MS,
                 status=StatusCode.ERROR if i % 10 == 0 else StatusCode.UNSET),
        ]  # fmt: skip
    await storage.write(WriteBatch(spans=spans))
    got = await storage.service_map("t1", T0 - SEC, T0 + SEC)
    assert 0.05 < got.sample_rate < 0.2  # about 300 of 3000
    assert [n.name for n in got.nodes] == ["checkout", "frontend"]
    assert sum(n.span_count for n in got.nodes) == pytest.approx(3000, abs=2)
    for node in got.nodes:
        assert node.span_count == pytest.approx(1500, rel=0.25)
    (edge,) = got.edges
    assert (edge.source, edge.target) == ("frontend", "checkout")
    assert edge.call_count == pytest.approx(1500, rel=0.25)
    assert edge.error_count == pytest.approx(150, rel=0.6)
    assert 10 * MS <= edge.avg_duration_ns <= 12 * MS
    assert got.nodes[1].avg_duration_ns == pytest.approx(100 * MS)
    exact = await storage.service_map("t1", T0 - SEC, T0 + SEC, exact=True)
    assert exact.sample_rate == 1.0
    assert [(n.name, n.span_count, n.error_count) for n in exact.nodes] == [
        ("checkout", 1500, 150), ("frontend", 1500, 0)
    ]  # fmt: skip
    assert [(e.call_count, e.error_count) for e in exact.edges] == [(1500, 150)]


# -- stats and purges -------------------------------------------------------------------------


async def test_stats_count_the_tenant_and_size_the_database(storage: Storage) -> None:
    traces = make_traces("t1", n=20)
    logs = make_logs("t1", n=30)
    await write_traces(storage, traces)
    await write_traces(storage, make_traces("t2", n=5, seed=8))
    await storage.write(WriteBatch(logs=logs, points=[
        metric(MetricType.GAUGE, T0, value=1.0, service="metrics-only")] * 3))  # fmt: skip
    got = await storage.stats("t1")
    spans = [s for t in traces for s in t]
    assert got.spans == len(spans)
    assert got.traces == 20
    assert got.error_traces == sum(max(s.status_code for s in t) is StatusCode.ERROR
                                   for t in traces)  # fmt: skip
    assert (got.logs, got.error_logs) == (30, sum(r.severity_number >= 17 for r in logs))
    assert got.metric_points == 3
    names = {s.service_name for s in spans} | {r.service_name for r in logs} | {"metrics-only"}
    assert got.services == len(names)
    assert got.db_size_bytes > 0
    empty = await storage.stats("t3")
    assert (empty.spans, empty.traces, empty.logs, empty.metric_points, empty.services) == (
        0, 0, 0, 0, 0)  # fmt: skip


async def test_purge_tenant_leaves_newer_rows_and_other_tenants(storage: Storage) -> None:
    cutoff = T0
    for tenant in ("t1", "t2"):
        old = [one_span_trace(i, 1, tenant=tenant, start=T0 - 10**12) for i in range(30)]
        new = [one_span_trace(100 + i, 1, tenant=tenant, start=T0) for i in range(4)]
        logs = [dataclasses.replace(r, tenant_id=tenant, time_unix_nano=T0 - SEC + i * SEC // 10)
                for i, r in enumerate(make_logs("t1", n=20))]  # fmt: skip
        points = [metric(MetricType.GAUGE, T0 - 5 + i, value=1.0, tenant=tenant)
                  for i in range(10)]  # fmt: skip
        await storage.write(WriteBatch(spans=old + new, logs=logs, points=points))
    counts = await storage.purge_tenant("t1", cutoff)
    assert (counts.spans, counts.traces, counts.logs, counts.metric_points) == (30, 30, 10, 5)
    assert await storage.count_rows("spans", "t1") == 4
    assert await storage.count_rows("logs", "t1") == 10
    assert await storage.count_rows("metric_points", "t1") == 5
    for table, n in (("spans", 34), ("traces", 34), ("logs", 20), ("metric_points", 10)):
        assert await storage.count_rows(table, "t2") == n
    again = await storage.purge_tenant("t1", cutoff)
    assert (again.spans, again.traces, again.logs, again.metric_points) == (0, 0, 0, 0)
    assert (await storage.search_traces(TraceQuery(tenant_id="t1"))).total == 4


# -- tenants and hostile values ---------------------------------------------------------------


async def every_read(storage: Storage, tenant: str, text: str) -> list[Any]:
    """Every query method, with ``text`` in each string parameter it has."""
    wide = (T0 - 10**12, T0 + 10**12)
    return [
        (await storage.search_traces(TraceQuery(tenant_id=tenant))).items,
        (await storage.search_traces(TraceQuery(tenant_id=tenant, services=(text,)))).items,
        (await storage.search_traces(TraceQuery(tenant_id=tenant, operation=text))).items,
        (await storage.search_traces(TraceQuery(tenant_id=tenant,
                                                attributes=((text, text),)))).items,
        (await storage.search_traces(TraceQuery(tenant_id=tenant,
                                                attributes=(("user", text),)))).items,
        (await storage.search_logs(LogQuery(tenant_id=tenant))).items,
        (await storage.search_logs(LogQuery(tenant_id=tenant, search=text))).items,
        (await storage.search_logs(LogQuery(tenant_id=tenant, services=(text,)))).items,
        (await storage.search_logs(LogQuery(tenant_id=tenant, trace_id=text))).items,
        await storage.log_context(tenant, T0, 10**12, 100),
        await storage.metric_buckets(MetricQuery(tenant, "m", None, *wide, SEC)),
        await storage.metric_buckets(MetricQuery(tenant, text, text, *wide, SEC)),
        await storage.list_services(tenant),
        await storage.list_metric_names(tenant, None),
        await storage.list_metric_names(tenant, text),
        await storage.traffic(tenant, *wide, SEC, ()),
        await storage.traffic(tenant, *wide, SEC, (text,)),
        await storage.latency_points(tenant, *wide, (), 10),
        await storage.latency_points(tenant, *wide, (text,), 10),
        (await storage.dashboard(tenant, *wide, ())).total_traces,
        (await storage.dashboard(tenant, *wide, (text,))).total_logs,
        (await storage.service_map(tenant, *wide)).edges,
        (await storage.p99_duration(tenant, *wide, row_cap=1000)).rows,
        (await storage.p99_duration(tenant, *wide, row_cap=1000, services=(text,))).rows,
        (await storage.stats(tenant)).spans,
    ]


async def seed_everything(storage: Storage, tenant: str) -> None:
    traces = make_traces(tenant, n=10)
    points = [metric(MetricType.GAUGE, T0, value=1.0, tenant=tenant),
              histogram_of([1, 2, 3], T0, [2.0], tenant=tenant)]  # fmt: skip
    logs = [dataclasses.replace(r, tenant_id=tenant) for r in make_logs("t1", n=10)]
    await storage.write(WriteBatch(spans=[s for t in traces for s in t], logs=logs, points=points))


async def test_another_tenant_sees_nothing(storage: Storage) -> None:
    await seed_everything(storage, "A")
    seen = await every_read(storage, "A", "checkout")
    assert seen[0] and seen[5] and seen[10] and seen[12], "tenant A sees its own data"
    empty = await every_read(storage, "B", "checkout")
    assert all(not x for x in empty), empty
    # the tenant id compares exactly: no case folding, no trailing-space padding
    for lookalike in ("a", "A ", " A", "A%", "_"):
        assert all(not x for x in await every_read(storage, lookalike, "checkout")), lookalike
    assert (await storage.purge_tenant("B", T0 + 10**15)).spans == 0
    assert (await storage.stats("A")).spans > 0


@pytest.mark.parametrize("text", METACHARACTERS)
async def test_sql_metacharacters_find_nothing_and_break_nothing(
    storage: Storage, text: str
) -> None:
    await seed_everything(storage, "A")
    found = await every_read(storage, "A", text)
    assert found[0] and found[5], "unfiltered reads still see the data"
    assert not any(found[i] for i in (1, 2, 3, 4, 7, 8, 11, 14, 16, 18, 20, 23))
    # only bodies that hold the text literally (JSON bodies hold '"', 'a_b' '_' ...)
    literal = [r for r in make_logs("t1", n=10) if text.lower() in body_text(r).lower()]
    assert len(found[6]) == len(literal)
    assert all(not x for x in await every_read(storage, text, text))
    assert (await storage.purge_tenant(text, T0 + 10**15)).logs == 0
    assert await storage.count_rows("spans") > 0
