"""SQL built by storage.sql_queries and sql_aggregates: every value bound, placeholders
that line up."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otelctx.model import StatusCode
from otelctx.storage import sql_aggregates as agg
from otelctx.storage import sql_queries as q
from otelctx.storage.queries import LogQuery, MetricQuery, TraceQuery, TraceSort
from otelctx.storage.sql_queries import Dialect, Sql

HOSTILE = "x' OR 1=1; -- %s $1 ? \\ \" `"


def every_statement(d: Dialect, text: str) -> Iterator[Sql]:
    tq = TraceQuery(
        tenant_id=text, services=(text, text), operation=text, attributes=((text, text),) * 2,
        status=StatusCode.ERROR, min_duration_ns=1, max_duration_ns=2, start_ns=3, end_ns=4,
        sort=TraceSort.DURATION, limit=5, offset=6,
    )  # fmt: skip
    yield from q.trace_search(d, tq)
    yield q.trace_services(d, text, [text, text])
    lq = LogQuery(tenant_id=text, services=(text,), min_severity=9, search=text, trace_id=text,
                  start_ns=1, end_ns=2)  # fmt: skip
    yield from q.log_search(d, lq)
    yield from q.log_context(d, text, 10, 5, 3)
    mq = MetricQuery(text, text, text, 1, 2, 3)
    yield agg.metric_aggregates(d, mq)
    yield agg.metric_distributions(d, mq, 10)
    yield agg.distinct_values(d, "metric_points", "name", text, text)
    yield from agg.service_sources(d, text)
    yield agg.traffic(d, text, 1, 2, 3, (text,))
    yield agg.latency_points(d, text, 1, 2, (text,), 4)
    yield from agg.dashboard(d, text, 1, 2, (text, text))
    yield agg.service_map(d, text, 1, 2)
    yield agg.service_map(d, text, 1, 2, 100)
    yield agg.span_count(d, text, 1, 2)
    yield from agg.stats(d, text)
    yield agg.p99_offset(d, text, 1, 2, (text,), 7)
    for table in agg.PURGE_TABLES:
        yield agg.purge_tenant_batch(d, table, text, 1, 10)


def placeholders(d: Dialect, sql: Sql) -> int:
    if d is Dialect.POSTGRES:
        found = {int(n) for n in re.findall(r"\$(\d+)", sql.text)}
        assert found == set(range(1, len(found) + 1))
        return len(found)
    return sql.text.count("%s" if d is Dialect.MYSQL else "?")


@pytest.mark.parametrize("d", list(Dialect))
def test_every_value_is_bound_never_in_the_text(d: Dialect) -> None:
    for sql in every_statement(d, HOSTILE):
        assert HOSTILE not in sql.text
        assert "OR 1=1" not in sql.text
        assert placeholders(d, sql) == len(sql.args), sql.text
    if d is Dialect.MYSQL:  # asyncmy formats with %: no other % may appear in the text
        for sql in every_statement(d, "v"):
            assert "%" not in sql.text.replace("%s", "")


def test_sqlite_search_uses_the_trigram_index_from_three_characters() -> None:
    def where(text: str) -> str:
        return q.log_search(Dialect.SQLITE, LogQuery(tenant_id="t", search=text))[0].text

    assert "logs_fts MATCH" in where("abc")
    assert "logs_fts MATCH" not in where("ab")
    assert "logs_fts MATCH" not in where("ab\x00c")  # FTS5 would stop reading at the NUL
    assert q.fts_phrase('a"b') == '"a""b"'


@given(st.text(max_size=20))
def test_like_patterns_escape_their_wildcards(text: str) -> None:
    pattern = q.like_pattern(text)
    assert pattern.startswith("%") and pattern.endswith("%")
    body = pattern[1:-1]
    # un-escaping gives the text back, and no unescaped wildcard is left
    out, i = [], 0
    while i < len(body):
        if body[i] == "!":
            assert body[i + 1] in "!%_"
            out.append(body[i + 1])
            i += 2
        else:
            assert body[i] not in "%_"
            out.append(body[i])
            i += 1
    assert "".join(out) == text


def test_pages_and_times_are_clamped() -> None:
    assert q.page_bounds(10**9, -5) == (q.MAX_PAGE, 0)
    assert q.page_bounds(-1, 2**80) == (0, 2**62)
    assert q.i64(2**70) == 2**63 - 1 and q.i64(-(2**70)) == -(2**63)
    sql = q.log_context(Dialect.SQLITE, "t", 2**70, 2**70, 5)[0]
    assert all(-(2**63) <= a <= 2**63 - 1 for a in sql.args if isinstance(a, int))
