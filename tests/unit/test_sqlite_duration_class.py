"""SQLite's duration class (schema v4): ordering by (class, duration) is ordering by
duration, for every duration a trace can have, so duration-sorted search may read the
class index first."""

from __future__ import annotations

import itertools
import random
import sqlite3

from otelctx.storage.sqlite_schema import DURATION_CLASS


def classes(durations: list[int]) -> list[tuple[int, int]]:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (duration_ns INTEGER NOT NULL)")
    conn.executemany("INSERT INTO t VALUES (?)", [(d,) for d in durations])
    rows = conn.execute(f"SELECT duration_ns, {DURATION_CLASS} FROM t").fetchall()
    conn.close()
    return [(int(d), int(c)) for d, c in rows]


def test_the_class_never_decreases_as_the_duration_grows() -> None:
    rnd = random.Random(4)
    edges = {-(10**12), -1, 0, 9, 10, 11, 2**63 - 1}
    for k in range(1, 19):
        for lead in (10**k, 2 * 10**k, 10**k * 95 // 10, 10**k * 99 // 10):
            edges.update((lead - 1, lead, lead + 1))
    edges = {d for d in edges if d <= 2**63 - 1}
    durations = sorted(edges | {rnd.randrange(0, 10**rnd.randint(1, 18)) for _ in range(20_000)})
    got = classes(durations)
    assert [d for d, _ in got] == durations
    for (d1, c1), (d2, c2) in itertools.pairwise(got):
        assert c1 <= c2, f"{d1} is in class {c1}, {d2} in {c2}"


def test_a_class_spans_the_durations_with_the_same_digits_and_first_digit() -> None:
    got = dict(classes([5, 10, 99, 100, 199, 200, 100_000_000, 199_999_999, 200_000_000]))
    assert got[5] == 0  # below 10 ns, like negative durations
    assert got[10] < got[99] < got[100] == got[199] < got[200]
    assert got[100_000_000] == got[199_999_999] < got[200_000_000]  # 100-199.9 ms, then 200
