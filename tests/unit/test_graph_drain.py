"""Drain log template mining: masks, convergence, stable ids, merges, LRU cap, export/import."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from otelctx.graph.drain import (
    WILDCARD,
    Drain,
    TemplateRecord,
    from_signed64,
    mask,
    template_id,
    to_signed64,
    tokenize,
)

T0 = 1_700_000_000_000_000_000

# -- masks -------------------------------------------------------------------------------


def test_masks_each_kind_of_variable() -> None:
    cases = {
        "connect to 10.0.0.12:5432 failed": "connect to <IP> failed",
        "peer 192.168.1.1 gone": "peer <IP> gone",
        "addr 2001:db8::8a2e:370:7334 up": "addr <IP> up",
        "full fe80:0:0:0:202:b3ff:fe1e:8329 ok": "full <IP> ok",
        "loopback :: bound": "loopback <IP> bound",
        "user 550e8400-e29b-41d4-a716-446655440000 x": "user <UUID> x",
        "user 550E8400-E29B-41D4-A716-446655440000 x": "user <UUID> x",
        "addr 0xDEADbeef here": "addr <HEX> here",
        "trace 4bf92f3577b34da6a3ce929d0e0e4736 seen": "trace <HEX> seen",
        "took 42 ms": "took <NUM> ms",
        "delta -17 and 3.25 units": "delta <NUM> and <NUM> units",
        "at 2026-04-24T03:03:17.123Z done": "at <TS> done",
        "at 2026-04-24 03:03:17,5+02:00 done": "at <TS> done",
        "epoch 1714000000123 ms": "epoch <TS> ms",
        "mail bob.smith+x@example.co.uk now": "mail <EMAIL> now",
        "listening on :8080": "listening on :<NUM>",
    }
    for line, expected in cases.items():
        assert mask(line) == expected, line


def test_a_clock_time_is_not_an_ipv6_address() -> None:
    assert "<IP>" not in mask("at 12:30:45 the job ran")


def test_odd_input_never_raises() -> None:
    d = Drain()
    assert d.add("", T0) is None
    assert d.add("   \t\n ", T0) is None
    m = d.add("ünïcödé ✓ 日本語 line", T0)
    assert m is not None and m.template.tokens == ["ünïcödé", "✓", "日本語", "line"]
    big = " ".join(f"tok{i % 7}" for i in range(50_000))
    assert d.add(big, T0) is not None


@given(st.integers(min_value=-(10**15) + 1, max_value=10**15 - 1))
def test_any_integer_becomes_num(n: int) -> None:
    # (13 digits starting with 1 read as unix milliseconds; 16 or more as a hex id)
    digits = str(abs(n))
    is_ms = len(digits) == 13 and digits[0] == "1"
    expected = ("-<TS>" if n < 0 else "<TS>") if is_ms else "<NUM>"
    assert mask(f"took {n} ms") == f"took {expected} ms"


@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False).map(lambda f: f"{f:.3f}"))
def test_any_decimal_becomes_num(text: str) -> None:
    assert mask(f"value {text} units") == "value <NUM> units"


@given(st.uuids())
def test_any_uuid_is_masked(u: uuid.UUID) -> None:
    for text in (str(u), str(u).upper()):
        assert mask(f"id={text} ok") == "id=<UUID> ok"


@given(st.tuples(*[st.integers(0, 255)] * 4), st.one_of(st.none(), st.integers(0, 65535)))
def test_any_ipv4_is_masked(octets: tuple[int, ...], port: int | None) -> None:
    addr = ".".join(map(str, octets)) + (f":{port}" if port is not None else "")
    assert mask(f"from {addr} in") == "from <IP> in"


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12))
def test_any_email_is_masked(name: str) -> None:
    assert mask(f"to {name}@mail.example.org sent") == "to <EMAIL> sent"


@given(st.lists(st.text(min_size=1, max_size=8).filter(lambda s: not s.isspace()), max_size=8))
def test_masking_is_idempotent(words: list[str]) -> None:
    # masking is idempotent: a masked line masks to itself
    line = " ".join(words)
    assert mask(mask(line)) == mask(line)


# -- ids ---------------------------------------------------------------------------------


def test_template_id_is_fnv64a_of_tokens_joined_by_nul() -> None:
    # FNV-64a test vectors: "" and "a"
    assert template_id([]) == 0xCBF29CE484222325
    assert template_id(["a"]) == 0xAF63DC4C8601EC8C
    assert template_id(["a", "b"]) != template_id(["ab"])


@given(st.lists(st.text(max_size=10), min_size=1, max_size=6))
def test_ids_are_stable_across_instances(tokens: list[str]) -> None:
    line = " ".join(t for t in tokens if t.strip())
    a, b = Drain(), Drain()
    ma, mb = a.add(line, T0), b.add(line, T0)
    if ma is None:
        assert mb is None
        return
    assert mb is not None
    assert ma.template.id == mb.template.id == template_id(tokenize(line))


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_signed_round_trip(value: int) -> None:
    signed = to_signed64(value)
    assert -(2**63) <= signed < 2**63
    assert from_signed64(signed) == value


# -- clustering ----------------------------------------------------------------------------


def test_same_shape_converges_to_one_template_with_summed_count() -> None:
    d = Drain()
    ids = set()
    for i in range(1000):
        m = d.add(f"request {i} served in {i * 3} ms to 10.0.0.{i % 250}", T0 + i)
        assert m is not None
        ids.add(m.template.id)
    assert len(d) == 1
    [t] = d.templates.values()
    assert t.count == 1000 and len(ids) == 1
    assert t.first_seen_ns == T0 and t.last_seen_ns == T0 + 999
    assert t.text == "request <NUM> served in <NUM> ms to <IP>"


def test_distinct_shapes_make_distinct_templates() -> None:
    d = Drain()
    d.add("payment declined for card", T0)
    d.add("connection reset by peer", T0)
    d.add("user logged in", T0)
    assert len(d) == 3


def test_merge_introduces_wildcards_keeps_literals_and_reports_the_old_id() -> None:
    d = Drain()
    first = d.add("GET /api/orders returned error timeout", T0)
    assert first is not None
    old_id = first.template.id
    m = d.add("GET /api/orders returned error refused", T0 + 1)
    assert m is not None
    assert m.template.tokens == ["GET", "/api/orders", "returned", "error", WILDCARD]
    assert m.previous_ids == (old_id,) and m.template.id != old_id
    assert m.template.count == 2
    # the wildcard sticks: a third value matches without another id change
    again = d.add("GET /api/orders returned error closed", T0 + 2)
    assert again is not None and again.template.id == m.template.id and not again.previous_ids


def test_a_merge_onto_a_live_id_folds_without_orphans() -> None:
    # A merge can produce the tokens of a live template in another leaf when a full node
    # once sent lines to its wildcard child. Build exactly that.
    d = Drain(depth=3, max_children=1, max_templates=3)
    d.add("b k k", T0)  # takes the only literal child of the 3-token node
    u_tokens = ("a", WILDCARD, "z")
    d.load([TemplateRecord(template_id(u_tokens), u_tokens, 5, T0, T0, "")])  # -> wildcard leaf
    d.add("fillone", T0 + 1)
    assert d.add("a x z", T0 + 2) is not None  # matches U (wildcard leaf): U is recent now
    d.add("filltwo", T0 + 3)  # evicts "b k k": its child goes, making room for "a"
    t = d.add("a q z", T0 + 4)  # a new literal child "a" with its own template
    assert t is not None and t.template.id != template_id(u_tokens)
    m = d.add("a s z", T0 + 5)  # merges to "a <*> z", which is U: folded into U
    assert m is not None
    assert m.template.id == template_id(u_tokens)
    assert m.previous_ids == (t.template.id,)
    assert m.template.count == 5 + 1 + 1 + 1
    assert t.template.id not in d.templates
    for tpl in d.templates.values():
        assert tpl in tpl.leaf.templates
    assert sum(len(n.templates) for n in _all_nodes(d)) == len(d)


def _all_nodes(d: Drain) -> list:  # type: ignore[type-arg]
    out, stack = [], [d._root]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(node.children.values())
    return out


def test_lru_cap_evicts_the_least_recently_matched_and_prunes_the_tree() -> None:
    d = Drain(max_templates=3)
    for i, word in enumerate(["alpha", "bravo", "charlie"]):
        d.add(f"{word} event happened", T0 + i)
    d.add("alpha event happened", T0 + 10)  # alpha is now the most recent
    d.add("delta thing", T0 + 11)
    assert len(d) == 3 and d.evicted == 1
    texts = {t.text for t in d.templates.values()}
    assert texts == {"alpha event happened", "charlie event happened", "delta thing"}
    nodes_before = d.node_count()
    for i in range(200):
        d.add(f"shape{i} " + "x " * (i % 30), T0 + 100 + i)
    assert len(d) == 3
    assert d.node_count() <= nodes_before + 3 * d.depth


def test_max_children_sends_further_tokens_to_the_wildcard_child() -> None:
    d = Drain(max_children=3, depth=3)
    for word in ["a", "b", "c", "d", "e"]:
        d.add(f"{word} common tail here", T0)
    length_node = d._root.children[4]
    assert set(length_node.children) == {"a", "b", "c", WILDCARD}


def test_export_import_keeps_ids_and_reuses_templates() -> None:
    d = Drain()
    for i in range(20):
        d.add(f"order {i} failed with code {i % 3}", T0 + i)
        d.add(f"cache miss for key k{i}", T0 + i)
        d.add(f"worker {i} started", T0 + i)
    records = d.export()
    fresh = Drain()
    assert fresh.load(records) == len(records)
    assert {r.id for r in fresh.export()} == {r.id for r in records}
    m = fresh.add("order 99 failed with code 7", T0 + 100)
    assert m is not None and m.template.id in {r.id for r in records} and not m.previous_ids
    assert len(fresh) == len(records)


def test_import_skips_records_that_do_not_hash_to_their_id() -> None:
    bad = TemplateRecord(12345, ("not", "matching"), 1, T0, T0, "")
    assert Drain().load([bad]) == 0


def test_import_beyond_the_cap_keeps_the_most_recent() -> None:
    records = [
        TemplateRecord(template_id((f"w{i}", "x")), (f"w{i}", "x"), 1, T0, T0 + i, "")
        for i in range(10)
    ]
    d = Drain(max_templates=4)
    assert d.load(records) == 4
    assert {t.tokens[0] for t in d.templates.values()} == {"w6", "w7", "w8", "w9"}
