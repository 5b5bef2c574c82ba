"""The persistence protocol's in-memory implementation: what the SQL one must match."""

from __future__ import annotations

import dataclasses

from otelctx.graph.anomalies import Severity, detect
from otelctx.graph.drain import Drain
from otelctx.graph.investigate import investigate
from otelctx.graph.investigations import Investigation
from otelctx.graph.persist import MAX_LIST, InvestigationFilter, Mark, MemoryPersistence
from otelctx.graph.summary import snapshot
from tests.unit.test_graph_core import NOW, span
from tests.unit.test_graph_queries import failing_system

S = 1_000_000_000


def an_investigation() -> Investigation:
    g = failing_system()
    [inv] = investigate(g, detect(g, NOW), NOW)
    return inv


async def test_investigations_listed_newest_first_filtered_and_per_tenant() -> None:
    p = MemoryPersistence()
    base = an_investigation()
    for i in range(150):
        await p.save_investigation(dataclasses.replace(
            base, id=f"inv{i:03d}", created_ns=NOW + i,
            severity=Severity.CRITICAL if i % 2 else Severity.WARNING,
            trigger_service="orders" if i % 3 == 0 else "payments",
        ))  # fmt: skip
    await p.save_investigation(dataclasses.replace(base, id="other", tenant_id="t2"))
    found = await p.list_investigations(InvestigationFilter("t1", limit=1000))
    assert len(found) == MAX_LIST and found[0].id == "inv149"
    crit = await p.list_investigations(InvestigationFilter("t1", severity=Severity.CRITICAL))
    assert len(crit) == 20 and all(i.severity is Severity.CRITICAL for i in crit)
    # service matches the trigger or the root
    orders = await p.list_investigations(InvestigationFilter("t1", service="orders", limit=100))
    assert len(orders) == 50
    by_root = await p.list_investigations(InvestigationFilter("t1", service="payments",
                                                              limit=100))  # fmt: skip
    assert len(by_root) == 100
    assert await p.list_investigations(InvestigationFilter("t1", status="resolved")) == []
    assert await p.get_investigation("t1", "other") is None
    assert await p.get_investigation("t2", "other") is not None
    assert [i.id for i in await p.list_investigations(InvestigationFilter("t2"))] == ["other"]


async def test_snapshot_at_is_the_newest_at_or_before_and_pruned() -> None:
    p = MemoryPersistence()
    g = failing_system()
    for k in (0, 10, 20):
        snap = snapshot(g, NOW + k * S)
        assert snap is not None
        await p.save_snapshot(snap)
    assert await p.snapshot_at("t1", NOW - 1) is None
    got = await p.snapshot_at("t1", NOW + 15 * S)
    assert got is not None and got.created_ns == NOW + 10 * S
    assert await p.snapshot_at("t2", NOW + 15 * S) is None
    assert await p.prune_snapshots(NOW + 10 * S) == 1
    assert await p.snapshot_at("t1", NOW + 5 * S) is None


async def test_templates_upsert_and_reload_with_the_same_ids() -> None:
    p = MemoryPersistence()
    d = Drain()
    for i in range(50):
        d.add(f"job{'abcdefghij'[i % 10]} step{'xy'[i % 2]} finished after {i} s", NOW + i)
    await p.save_templates("t1", d.export())
    await p.save_templates("t1", d.export())  # no duplicates
    loaded = await p.load_templates()
    assert set(loaded) == {"t1"}
    assert sorted(r.id for r in loaded["t1"]) == sorted(r.id for r in d.export())
    fresh = Drain()
    fresh.load(loaded["t1"])
    assert {t.id for t in fresh.templates.values()} == {t.id for t in d.templates.values()}
    assert await MemoryPersistence().load_templates() == {}


async def test_spans_since_pages_without_repeats() -> None:
    p = MemoryPersistence()
    spans = [span(i, 1, None, "a", end=NOW + (i % 7) * S) for i in range(25)]
    p.add_spans(spans)
    mark = Mark(0, 0)
    seen = []
    while True:
        page = await p.spans_since(mark, 10)
        if not page.spans:
            assert page.mark == mark
            break
        seen += page.spans
        assert page.mark > mark
        mark = page.mark
    assert len(seen) == 25 and len({s.trace_id for s in seen}) == 25
    starts = [s.start_time_unix_nano for s in seen]
    assert starts == sorted(starts)


def test_rows_round_trip_through_their_columns() -> None:
    from otelctx.graph import rows

    inv = an_investigation()
    row = rows.investigation_row(inv)
    assert tuple(row) == rows.INVESTIGATION_COLUMNS
    assert all(isinstance(v, str | int) for v in row.values())
    assert rows.investigation_from_row(row) == inv
    snap = snapshot(failing_system(), NOW)
    assert snap is not None
    srow = rows.snapshot_row(snap)
    assert tuple(srow) == rows.SNAPSHOT_COLUMNS
    assert rows.snapshot_from_row(srow) == snap
    d = Drain()
    d.add("a line with ünïcode and id 7", NOW)
    [record] = d.export()
    trow = rows.template_row("t1", record)
    assert tuple(trow) == rows.TEMPLATE_COLUMNS
    assert -(2**63) <= trow["id"] < 2**63
    assert rows.template_from_row(trow) == ("t1", record)
