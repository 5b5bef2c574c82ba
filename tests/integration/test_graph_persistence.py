"""The graph's persistence on every backend: ``Storage.graph_persistence()`` against
real SQLite, PostgreSQL and MariaDB databases, held to what ``MemoryPersistence`` does
(tests/unit/test_graph_persist.py) plus what only a database can show: rows survive the
storage being closed and opened again, and the rebuild reads spans back with their
real status.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio_asyncio

from otelctx.config import Settings
from otelctx.graph.anomalies import Severity
from otelctx.graph.drain import Drain, TemplateRecord
from otelctx.graph.investigations import Investigation
from otelctx.graph.persist import MAX_LIST, GraphPersistence, InvestigationFilter, Mark
from otelctx.graph.summary import snapshot
from otelctx.model import SpanKind, StatusCode
from otelctx.nurseries.retention import purge_pass
from otelctx.retention import NS_PER_DAY
from otelctx.storage import open_storage
from otelctx.storage.base import Storage, WriteBatch
from otelctx.telemetry import create_metrics
from tests import backends
from tests.integration.test_storage_contract import T0, open_backend, span
from tests.unit.test_graph_persist import an_investigation
from tests.unit.test_graph_queries import failing_system

S = 1_000_000_000


@pytest.fixture(params=backends.BACKENDS)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    backends.require(request.param)
    async with open_backend(request.param, tmp_path) as s:
        yield s


def inv(base: Investigation, i: int, **changes: object) -> Investigation:
    return dataclasses.replace(base, id=f"inv{i:03d}", created_ns=T0 + i * S, **changes)  # type: ignore[arg-type]


async def test_an_investigation_round_trips_whole(storage: Storage) -> None:
    p = storage.graph_persistence()
    saved = an_investigation()
    await p.save_investigation(saved)
    assert await p.get_investigation(saved.tenant_id, saved.id) == saved
    assert await p.list_investigations(InvestigationFilter(saved.tenant_id)) == [saved]
    # saving again replaces the row (one row per id), e.g. a status that moved on
    moved = dataclasses.replace(saved, status="resolved")
    await p.save_investigation(moved)
    assert await p.list_investigations(InvestigationFilter(saved.tenant_id)) == [moved]


async def test_investigations_newest_first_filtered_limited_and_per_tenant(
    storage: Storage,
) -> None:
    p = storage.graph_persistence()
    base = an_investigation()
    for i in range(150):
        await p.save_investigation(inv(
            base, i, severity=Severity.CRITICAL if i % 2 else Severity.WARNING,
            trigger_service="orders" if i % 3 == 0 else "payments",
            root_service="payments", status="resolved" if i == 7 else "detected",
        ))  # fmt: skip
    # another tenant's, with the same id and newer than all of them
    await p.save_investigation(dataclasses.replace(
        base, id="inv149", tenant_id="t2", created_ns=T0 + 10**6 * S, trigger_service="orders",
    ))  # fmt: skip
    found = await p.list_investigations(InvestigationFilter("t1", limit=1000))
    assert len(found) == MAX_LIST
    assert [i.id for i in found[:3]] == ["inv149", "inv148", "inv147"]
    assert all(i.tenant_id == "t1" for i in found)
    crit = await p.list_investigations(InvestigationFilter("t1", severity=Severity.CRITICAL))
    assert len(crit) == 20 and all(i.severity is Severity.CRITICAL for i in crit)
    # service: the trigger or the root service
    orders = await p.list_investigations(InvestigationFilter("t1", service="orders", limit=100))
    assert len(orders) == 50 and all(i.trigger_service == "orders" for i in orders)
    by_root = await p.list_investigations(InvestigationFilter("t1", service="payments",
                                                              limit=100))  # fmt: skip
    assert len(by_root) == 100
    resolved = await p.list_investigations(InvestigationFilter("t1", status="resolved"))
    assert [i.id for i in resolved] == ["inv007"]
    both = InvestigationFilter("t1", service="orders", severity=Severity.WARNING, limit=100)
    assert {i.id for i in await p.list_investigations(both)} == {
        f"inv{i:03d}" for i in range(150) if i % 3 == 0 and i % 2 == 0
    }
    assert await p.list_investigations(InvestigationFilter("t3")) == []
    # by id: only the tenant's own
    t2 = await p.get_investigation("t2", "inv149")
    assert t2 is not None and t2.tenant_id == "t2"
    t1 = await p.get_investigation("t1", "inv149")
    assert t1 is not None and t1.created_ns == T0 + 149 * S
    assert await p.get_investigation("t3", "inv149") is None
    assert await p.get_investigation("t1", "nope") is None


async def test_investigations_created_at_once_are_ordered_by_id(storage: Storage) -> None:
    p = storage.graph_persistence()
    base = an_investigation()
    for name in ("b", "c", "a"):
        await p.save_investigation(dataclasses.replace(base, id=name, created_ns=T0))
    found = await p.list_investigations(InvestigationFilter(base.tenant_id, limit=2))
    assert [i.id for i in found] == ["a", "b"]


async def test_snapshot_at_is_the_newest_at_or_before_per_tenant_and_pruned(
    storage: Storage,
) -> None:
    p = storage.graph_persistence()
    g = failing_system()
    snaps = []
    for k in (0, 10, 20):
        snap = snapshot(g, T0 + k * S)
        assert snap is not None
        snaps.append(snap)
        await p.save_snapshot(snap)
    await p.save_snapshot(dataclasses.replace(snaps[2], tenant_id="t2"))
    assert await p.snapshot_at("t1", T0 - 1) is None
    assert await p.snapshot_at("t1", T0 + 15 * S) == snaps[1], "whole, nodes and edges"
    assert await p.snapshot_at("t1", T0 + 10 * S) == snaps[1], "at is inclusive"
    assert await p.snapshot_at("t1", T0 + 99 * S) == snaps[2]
    assert await p.snapshot_at("t3", T0 + 99 * S) is None
    assert await p.prune_snapshots(T0 + 10 * S) == 1, "strictly older"
    assert await p.snapshot_at("t1", T0 + 5 * S) is None
    assert await p.snapshot_at("t1", T0 + 10 * S) == snaps[1]
    assert await p.prune_snapshots(T0 + 99 * S) == 3, "every tenant's"
    assert await p.snapshot_at("t2", T0 + 99 * S) is None


def word(n: int) -> str:
    out = ""
    for _ in range(4):
        n, r = divmod(n, 26)
        out += "ghijklmnopqrstuvwxyzGHIJKL"[r]  # no hex digits: nothing is masked
    return out


def mined(lines: int) -> Drain:
    """A Drain with ``lines`` templates: no two lines share a word, so none merge."""
    d = Drain(max_templates=10_000)
    for i in range(lines):
        d.add(" ".join(word(3 * i + k) for k in range(3)), T0 + i)
    assert len(d.templates) == lines
    return d


async def test_templates_upsert_reload_and_keep_their_ids(storage: Storage) -> None:
    p = storage.graph_persistence()
    assert await p.load_templates() == {}
    d = mined(600)  # more than one multi-row statement
    records = d.export()
    assert any(r.id >= 2**63 for r in records), "ids beyond a signed BIGINT round-trip"
    await p.save_templates("t1", records)
    await p.save_templates("t1", records)  # no duplicates
    await p.save_templates("t2", records[:3])
    # an upsert replaces the row: the count goes on
    moved = dataclasses.replace(records[0], count=99, last_seen_ns=T0 + 10**6)
    await p.save_templates("t1", [moved])
    await p.save_templates("t1", [])
    loaded = await p.load_templates()
    assert set(loaded) == {"t1", "t2"}
    by_id = {r.id: r for r in loaded["t1"]}
    assert len(loaded["t1"]) == len(records) and by_id[moved.id] == moved
    assert all(by_id[r.id] == r for r in records[1:])
    assert sorted(r.id for r in loaded["t2"]) == sorted(r.id for r in records[:3])
    fresh = Drain(max_templates=10_000)
    assert fresh.load(loaded["t1"]) == len(records)
    assert set(fresh.templates) == set(d.templates)


async def test_templates_odd_text_round_trips(storage: Storage) -> None:
    p = storage.graph_persistence()
    d = Drain()
    d.add("naïve 日本語 'quoted' \"double\" back\\slash 100% _under_ 🚀 done", T0)
    [record] = d.export()
    await p.save_templates("t1", [record])
    assert (await p.load_templates())["t1"] == [record]


async def test_spans_since_pages_every_tenant_in_order_without_repeats(
    storage: Storage,
) -> None:
    p = storage.graph_persistence()
    spans = [
        span(trace=f"{i:032x}", span_id=f"{i + 1:016x}", tenant=f"t{i % 3}",
             start=T0 + (i // 4) * S,  # four spans share each start: ties broken by id
             status=StatusCode.ERROR if i % 5 == 0 else StatusCode.OK)
        for i in range(30)
    ]  # fmt: skip
    old = span(trace="e" * 32, start=T0 - 100 * S)
    await storage.write(WriteBatch(spans=[old, *spans[15:]]))
    await storage.write(WriteBatch(spans=spans[:15]))
    mark = Mark(T0 - 1, 0)
    seen = []
    while True:
        page = await p.spans_since(mark, 7)
        if not page.spans:
            assert page.mark == mark
            break
        assert len(page.spans) <= 7 and page.mark > mark
        seen += page.spans
        mark = page.mark
    assert len(seen) == 30, "each once, the older one not at all"
    assert {s.span_id for s in seen} == {s.span_id for s in spans}
    starts = [s.start_time_unix_nano for s in seen]
    assert starts == sorted(starts)
    assert {s.tenant_id for s in seen} == {"t0", "t1", "t2"}
    by_id = {s.span_id: s for s in seen}
    for s in spans:
        got = by_id[s.span_id]
        assert (got.tenant_id, got.trace_id, got.parent_span_id, got.service_name, got.name,
                got.kind, got.start_time_unix_nano, got.end_time_unix_nano, got.status_code,
                got.status_message) == (
            s.tenant_id, s.trace_id, s.parent_span_id, s.service_name, s.name, SpanKind.SERVER,
            s.start_time_unix_nano, s.end_time_unix_nano, s.status_code, s.status_message,
        )  # fmt: skip
    errors = [s for s in seen if s.status_code is StatusCode.ERROR]
    assert len(errors) == 6 and all(s.status_message == "boom" for s in errors)
    # nothing after the end; a later write is found from the last mark
    assert (await p.spans_since(mark, 7)).spans == []
    late = span(trace="f" * 32, start=T0 + 100 * S, status=StatusCode.ERROR)
    await storage.write(WriteBatch(spans=[late]))
    [again] = (await p.spans_since(mark, 7)).spans
    assert again.trace_id == "f" * 32 and again.status_code is StatusCode.ERROR


async def test_graph_rows_survive_closing_the_storage(tmp_path: Path) -> None:
    for driver in backends.BACKENDS:
        backends.require(driver)
        path = str(tmp_path / "reopen.db")
        if driver == "sqlite":
            config = Settings(db_dsn=path)
        else:
            config = Settings(db_driver=driver, db_dsn=backends.dsn_for(driver),
                              db_max_open_conns=4, db_connect_timeout=5)  # fmt: skip
        saved = an_investigation()
        record = TemplateRecord(2**64 - 5, ("a", "<*>"), 3, T0, T0 + 1, "a b")
        async with trio_asyncio.open_loop():
            await backends.reset(driver)
            async with open_storage(config) as first:
                p: GraphPersistence = first.graph_persistence()
                await p.save_investigation(saved)
                await p.save_templates("t9", [record])
            async with open_storage(config) as second:
                p = second.graph_persistence()
                assert await p.get_investigation(saved.tenant_id, saved.id) == saved, driver
                assert await p.load_templates() == {"t9": [record]}, driver


async def seed_graph_rows(storage: Storage, now: int) -> None:
    """Investigations 10, 3 and 0 days old, snapshots 8 and 3 days old, one template
    last matched 10 days ago and three matched now."""
    p = storage.graph_persistence()
    base = an_investigation()
    for i, age_days in enumerate((10, 3, 0)):
        await p.save_investigation(dataclasses.replace(
            base, id=f"inv{i}", created_ns=now - age_days * NS_PER_DAY))  # fmt: skip
    g = failing_system()
    for age_days in (8, 3):
        snap = snapshot(g, now - age_days * NS_PER_DAY)
        assert snap is not None
        await p.save_snapshot(snap)
    old, *recent = mined(4).export()
    await p.save_templates("t1", [
        dataclasses.replace(old, last_seen_ns=now - 10 * NS_PER_DAY),
        *(dataclasses.replace(r, last_seen_ns=now) for r in recent),
    ])  # fmt: skip


async def test_retention_purges_old_graph_rows(storage: Storage) -> None:
    now = time.time_ns()
    await seed_graph_rows(storage, now)
    metrics = create_metrics(storage.driver)
    # 2 days: the 3-day-old investigation goes too, snapshots keep their fixed 7 days
    settings = Settings(retention_batch_size=1, retention_batch_sleep_ms=0, hot_retention_days=2)
    results = {r.job: r for r in await purge_pass(storage, settings, metrics)}
    assert results["graph"].ok, results["graph"].error
    assert results["graph"].purged == {
        "investigations": 2, "graph_snapshots": 1, "drain_templates": 1,
    }  # fmt: skip
    p = storage.graph_persistence()
    left = await p.list_investigations(InvestigationFilter("t1"))
    assert [i.id for i in left] == ["inv2"]
    assert await p.snapshot_at("t1", now) is not None
    assert await p.snapshot_at("t1", now - 5 * NS_PER_DAY) is None
    assert len((await p.load_templates())["t1"]) == 3
