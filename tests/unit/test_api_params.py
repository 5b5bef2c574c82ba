"""Query-parameter parsing of the HTTP API (otelctx.api.params and otelctx.api.inputs).

Pure code: no server. Hypothesis checks that arbitrary text never raises anything but
BadParameter, so a bad query string can only be a 400.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otelctx.api import inputs
from otelctx.api.inputs import (
    DAY,
    HOUR,
    MINUTE,
    SECOND,
    Window,
    auto_step,
    bucket_count,
    dashboard_input,
    heatmap_input,
    log_context_input,
    logs_input,
    metrics_input,
    no_input,
    purge_input,
    service_map_input,
    traces_input,
    traffic_input,
)
from otelctx.api.params import (
    MAX_NS,
    MAX_TEXT,
    Args,
    BadParameter,
    parse_choice,
    parse_int,
    parse_number,
    parse_severity,
    parse_text,
    parse_time,
    parse_trace_id,
)
from otelctx.model import StatusCode
from otelctx.storage.queries import TraceSort

NOW = 1_777_000_000_000_000_000  # 2026-04-24T03:06:40Z
T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z


def bad(fn, *args, match: str | None = None):  # type: ignore[no-untyped-def]
    with pytest.raises(BadParameter, match=match) as info:
        fn(*args)
    return info.value


# -- times ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2023-11-14T22:13:20Z", T0),
        ("2023-11-14t22:13:20z", T0),
        ("2023-11-15T00:13:20+02:00", T0),
        ("2023-11-14T12:43:20-09:30", T0),
        ("2023-11-14T22:13:20.5Z", T0 + 500_000_000),
        ("2023-11-14T22:13:20.123456789Z", T0 + 123_456_789),
        ("2023-11-14T22:13:20.1234567891234Z", T0 + 123_456_789),  # past ns: dropped
        ("2023-11-14T22:13:20.000001Z", T0 + 1000),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59Z", 0),  # clamped
        ("0000-01-01T00:00:00Z", 0),
        ("9999-12-31T23:59:59Z", MAX_NS),  # clamped
        ("2262-04-11T23:47:16.854775807Z", MAX_NS),
        ("2016-12-31T23:59:60Z", 1_483_228_800 * SECOND),  # leap second = next second
        ("2024-02-29T00:00:00Z", 1_709_164_800 * SECOND),
        (str(T0), T0),
        ("0", 0),
        (str(MAX_NS), MAX_NS),
    ],
)
def test_times(text: str, ns: int) -> None:
    assert parse_time("start", text) == ns


@pytest.mark.parametrize(
    "text",
    [
        "", "now", "-1", str(MAX_NS + 1), "1e18", "1.5", " 0", "0 ",
        "2023-11-14", "2023-11-14T22:13:20", "2023-11-14 22:13:20Z", "2023-11-14T22:13Z",
        "2023-13-01T00:00:00Z", "2023-02-29T00:00:00Z", "2023-04-31T00:00:00Z",
        "2023-00-10T00:00:00Z", "2023-01-00T00:00:00Z", "2023-01-01T24:00:00Z",
        "2023-01-01T00:60:00Z", "2023-01-01T00:00:61Z", "2023-01-01T00:00:00+24:00",
        "2023-01-01T00:00:00+01:60", "2023-01-01T00:00:00+0100", "2023-01-01T00:00:00.Z",
        "23-01-01T00:00:00Z", "\uff12\uff10\uff12\uff13-01-01T00:00:00Z", "1" * 31,
    ],
)  # fmt: skip
def test_bad_times_name_the_parameter(text: str) -> None:
    err = bad(parse_time, "end", text)
    assert str(err).startswith("end: ")
    assert "RFC 3339" in str(err)


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2262, 1, 1),
                    timezones=st.just(UTC)),
       st.integers(-23 * 60 - 59, 23 * 60 + 59))  # fmt: skip
def test_rfc3339_agrees_with_datetime(when: datetime, offset_min: int) -> None:
    tz = timezone(timedelta(minutes=offset_min))
    local = when.astimezone(tz)
    text = local.isoformat()
    expected = int(when.timestamp()) * SECOND + when.microsecond * 1000
    assert parse_time("t", text) == min(max(expected, 0), MAX_NS)


@given(st.text())
def test_time_never_raises_anything_else(text: str) -> None:
    try:
        ns = parse_time("t", text)
    except BadParameter:
        return
    assert 0 <= ns <= MAX_NS


# -- numbers, ids, severities, text ------------------------------------------------------


def test_integers() -> None:
    assert parse_int("limit", "1", 1, 1000) == 1
    assert parse_int("limit", "1000", 1, 1000) == 1000
    assert parse_int("offset", "-0", 0, 5) == 0
    for text in ("0", "1001", "-5", "", "1.0", "1e3", "+5", "٣", "1_000", " 5", "x"):
        err = bad(parse_int, "limit", text, 1, 1000)
        assert "limit: must be an integer in 1..1000" in str(err)
    # a huge number is out of range, not slow and not an overflow
    assert "got" in str(bad(parse_int, "offset", "9" * 30, 0, 10))
    bad(parse_int, "offset", "9" * 5000, 0, 10)


def test_numbers() -> None:
    assert parse_number("min_duration_ms", "12", 0, 1e15) == 12
    assert parse_number("min_duration_ms", "0.5", 0, 1e15) == 0.5
    assert parse_number("min_duration_ms", "1e3", 0, 1e15) == 1000
    assert parse_number("min_duration_ms", "-0.0", 0, 1e15) == 0
    for text in ("-1", "nan", "inf", "1e400", "", "1,5", "0x10", "1e16", " 1"):
        bad(parse_number, "min_duration_ms", text, 0, 1e15, match="min_duration_ms")


@given(st.text())
def test_numbers_and_ints_never_raise_anything_else(text: str) -> None:
    for fn in (parse_number, parse_int):
        with contextlib.suppress(BadParameter):
            fn("x", text, 0, 1000)


def test_trace_ids() -> None:
    assert parse_trace_id("trace_id", "0AF7651916CD43DD8448EB211C80319C") == (
        "0af7651916cd43dd8448eb211c80319c"
    )
    for text in ("", "0af7651916cd43dd8448eb211c80319", "g" * 32, "0" * 33, "' OR 1=1 --"):
        bad(parse_trace_id, "trace_id", text, match="32 hex")


@pytest.mark.parametrize(
    ("text", "number"),
    [("TRACE", 1), ("debug", 5), ("Info", 9), ("warn", 13), ("WARNING", 13), ("error", 17),
     ("FATAL", 21), ("1", 1), ("17", 17), ("24", 24), ("07", 7)],
)  # fmt: skip
def test_severities(text: str, number: int) -> None:
    assert parse_severity("severity", text) == number


@given(st.text())
def test_severity_and_text_never_raise_anything_else(text: str) -> None:
    for fn in (parse_severity, parse_text, parse_trace_id):
        with contextlib.suppress(BadParameter):
            fn("x", text)


def test_bad_severities() -> None:
    for text in ("0", "25", "NOTICE", "", "\u0131nfo", "-1"):
        err = bad(parse_severity, "severity", text)
        assert "TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL" in str(err)


def test_text() -> None:
    assert parse_text("search", "a'b%c_d;--\\") == "a'b%c_d;--\\"
    bad(parse_text, "search", "", match="empty")
    bad(parse_text, "search", "a\x00b", match="NUL")
    bad(parse_text, "search", "x" * (MAX_TEXT + 1), match=str(MAX_TEXT))
    assert parse_choice("order", "asc", inputs.ORDER) is False
    bad(parse_choice, "order", "ASC", inputs.ORDER, match="asc")


# -- the query string ------------------------------------------------------------------


def test_unknown_parameters_are_named() -> None:
    err = bad(Args, {"limit": ["5"], "lmit": ["5"]}, {"limit"})
    assert str(err) == "unknown parameter: lmit"
    assert str(bad(Args, {"x" * 500: ["1"]}, set())).endswith("...")
    err = bad(traces_input, {"attr": ["x"]}, "t")
    assert str(err) == "unknown parameter: attr"


def test_single_values_only_once_and_repeatables_many() -> None:
    err = bad(traces_input, {"limit": ["5", "6"]}, "t")
    assert str(err) == "limit: given more than once; it takes a single value"
    q = traces_input({"service_name": ["a", "b", "a"]}, "t")
    assert q.services == ("a", "b")
    bad(traces_input, {"service_name": ["a"] * 101}, "t", match="more than 100")
    bad(traces_input, {"service_name": [""]}, "t", match="service_name: must not be empty")


def test_required_parameters() -> None:
    assert str(bad(log_context_input, {})) == "missing parameter: timestamp"
    assert str(bad(metrics_input, {}, "t", NOW)) == "missing parameter: name"
    assert str(bad(metrics_input, {"name": [""]}, "t", NOW)) == "name: must not be empty"


def test_trace_query() -> None:
    q = traces_input(
        {
            "service_name": ["checkout"], "operation": ["GET /cart"], "status": ["error"],
            "min_duration_ms": ["1.5"], "max_duration_ms": ["2000"],
            "start": ["2023-11-14T22:13:20Z"], "end": [str(T0 + HOUR)],
            "attr.http.route": ["/cart"], "attr.retry": ["true"],
            "sort_by": ["timestamp"], "order": ["asc"], "limit": ["1000"], "offset": ["40"],
        },
        "acme",
    )  # fmt: skip
    assert q.tenant_id == "acme"
    assert q.services == ("checkout",)
    assert q.operation == "GET /cart"
    assert q.status is StatusCode.ERROR
    assert (q.min_duration_ns, q.max_duration_ns) == (1_500_000, 2_000_000_000)
    assert (q.start_ns, q.end_ns) == (T0, T0 + HOUR)
    assert q.attributes == (("http.route", "/cart"), ("retry", "true"))
    assert (q.sort, q.descending, q.limit, q.offset) == (TraceSort.START_TIME, False, 1000, 40)

    d = traces_input({}, "acme")
    assert (d.sort, d.descending, d.limit, d.offset) == (TraceSort.START_TIME, True, 20, 0)
    assert (d.start_ns, d.end_ns, d.status, d.attributes) == (None, None, None, ())
    assert traces_input({"sort_by": ["duration"]}, "t").sort is TraceSort.DURATION


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"limit": ["0"]}, "limit: must be an integer in 1..1000"),
        ({"limit": ["1001"]}, "limit"),
        ({"limit": ["-1"]}, "limit"),
        ({"offset": ["-1"]}, "offset: must be an integer in 0..1000000"),
        ({"offset": ["1000001"]}, "offset"),
        ({"sort_by": ["service_name"]}, "sort_by: must be one of start_time|timestamp|duration"),
        ({"order": ["up"]}, "order: must be one of desc|asc"),
        ({"status": ["ERROR"]}, "status: must be one of error|ok|unset"),
        ({"min_duration_ms": ["-1"]}, "min_duration_ms"),
        ({"min_duration_ms": ["5"], "max_duration_ms": ["1"]}, "not be above max_duration_ms"),
        ({"start": [str(T0 + 1)], "end": [str(T0)]}, "start: must not be after end"),
        ({"start": ["yesterday"]}, "start: must be an RFC 3339 time"),
        ({"attr.": ["x"]}, "attr.: needs a key"),
        ({"attr.k": [""]}, "attr.k: must not be empty"),
        ({"attr.k": ["a", "b"]}, "attr.k: given more than once"),
        ({f"attr.k{i}": ["v"] for i in range(21)}, "at most 20 different keys"),
    ],
)  # fmt: skip
def test_bad_trace_queries(raw: dict[str, list[str]], fragment: str) -> None:
    assert fragment in str(bad(traces_input, raw, "t"))


def test_log_query() -> None:
    q = logs_input(
        {"service_name": ["a", "b"], "severity": ["warn"], "search": ["Timeout"],
         "trace_id": ["0AF7651916CD43DD8448EB211C80319C"], "start": ["0"], "end": ["10"],
         "limit": ["7"], "offset": ["3"], "order": ["asc"]},
        "acme",
    )  # fmt: skip
    assert (q.services, q.min_severity, q.search) == (("a", "b"), 13, "Timeout")
    assert q.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert (q.start_ns, q.end_ns, q.limit, q.offset, q.descending) == (0, 10, 7, 3, False)
    d = logs_input({}, "acme")
    assert (d.limit, d.offset, d.descending, d.min_severity) == (50, 0, True, None)
    bad(logs_input, {"sort_by": ["duration"]}, "t", match="unknown parameter: sort_by")
    bad(logs_input, {"severity": ["loud"]}, "t", match="severity")
    bad(logs_input, {"trace_id": ["abc"]}, "t", match="trace_id")


def test_log_context() -> None:
    c = log_context_input({"timestamp": ["2023-11-14T22:13:20Z"]})
    assert (c.time_ns, c.window_seconds, c.window_ns, c.limit) == (T0, 60, 60 * SECOND, 100)
    c = log_context_input({"timestamp": [str(T0)], "window": ["3600"], "limit": ["1000"]})
    assert (c.window_seconds, c.limit) == (3600, 1000)
    bad(log_context_input, {"timestamp": [str(T0)], "window": ["3601"]}, match="window")
    bad(log_context_input, {"timestamp": [str(T0)], "limit": ["0"]}, match="limit")
    bad(log_context_input, {"timestamp": ["soon"]}, match="timestamp")


def test_metric_query_and_its_default_step() -> None:
    q = metrics_input({"name": ["http.duration"]}, "acme", NOW)
    assert (q.name, q.service, q.start_ns, q.end_ns) == ("http.duration", None, NOW - HOUR, NOW)
    assert q.step_ns == MINUTE  # 60 buckets of a minute: the smallest nice step ≤ 120
    q = metrics_input({"name": ["m"], "service_name": ["s"], "start": [str(NOW - 30 * DAY)],
                       "end": [str(NOW)]}, "acme", NOW)  # fmt: skip
    assert q.service == "s"
    # 30 days in 6 h buckets is 120, but the unaligned ends touch 121: the next nice step
    assert q.step_ns == 12 * HOUR
    assert bucket_count(Window(q.start_ns, q.end_ns), q.step_ns) <= inputs.AUTO_BUCKETS
    q = metrics_input({"name": ["m"], "step": ["15"]}, "acme", NOW)
    assert q.step_ns == 15 * SECOND
    err = bad(metrics_input, {"name": ["m"], "step": ["1"], "start": ["0"]}, "t", NOW)
    assert "step: the window would have" in str(err) and "at most 10000" in str(err)
    bad(metrics_input, {"name": ["m"], "step": ["0"]}, "t", NOW, match="step")


@given(st.integers(0, MAX_NS), st.integers(0, MAX_NS), st.sampled_from([1, 60, 86_400]))
def test_auto_step_always_fits(a: int, b: int, floor_s: int) -> None:
    w = Window(min(a, b), max(a, b))
    step = auto_step(w, inputs.AUTO_BUCKETS, floor_s)
    assert step >= floor_s * SECOND
    assert bucket_count(w, step) <= inputs.AUTO_BUCKETS


def test_bucket_count() -> None:
    assert bucket_count(Window(0, 0), SECOND) == 0
    assert bucket_count(Window(0, 1), SECOND) == 1
    assert bucket_count(Window(0, SECOND), SECOND) == 1
    assert bucket_count(Window(SECOND - 1, SECOND + 1), SECOND) == 2


def test_windows_default_to_the_last_30_minutes() -> None:
    t = traffic_input({}, NOW)
    assert (t.window.start_ns, t.window.end_ns, t.step_ns) == (NOW - 30 * MINUTE, NOW, MINUTE)
    # a long window gets a coarser default step instead of a 400
    t = traffic_input({"start": ["0"]}, NOW)
    assert bucket_count(t.window, t.step_ns) <= inputs.MAX_BUCKETS
    t = traffic_input({"service_name": ["a"], "step": ["10"], "end": [str(T0)]}, NOW)
    assert (t.window.start_ns, t.window.end_ns) == (T0 - 30 * MINUTE, T0)
    assert (t.step_ns, t.services) == (10 * SECOND, ("a",))
    h = heatmap_input({}, NOW)
    assert (h.limit, h.window.end_ns) == (2000, NOW)
    assert heatmap_input({"limit": ["10000"]}, NOW).limit == 10_000
    bad(heatmap_input, {"limit": ["10001"]}, NOW, match="1..10000")
    f = dashboard_input({"service_name": ["a"]}, NOW)
    assert (f.window.start_ns, f.services) == (NOW - 30 * MINUTE, ("a",))
    assert service_map_input({"start": [str(NOW - HOUR)]}, NOW) == Window(NOW - HOUR, NOW)
    err = bad(service_map_input, {"start": [str(NOW + 1)]}, NOW)
    assert "end defaults to now" in str(err)
    bad(dashboard_input, {"limit": ["5"]}, NOW, match="unknown parameter: limit")


def test_purge_cutoff() -> None:
    assert purge_input({}, NOW) == NOW - 7 * DAY
    assert purge_input({"days": ["1"]}, NOW) == NOW - DAY
    assert purge_input({"days": ["36500"]}, NOW) == 0  # before 1970: everything older than 0
    for days in ("0", "-1", "36501", "1.5", "x"):
        bad(purge_input, {"days": [days]}, NOW, match="days: must be an integer in 1..36500")


def test_routes_without_parameters_refuse_any() -> None:
    no_input({})
    assert str(bad(no_input, {"verbose": ["1"]})) == "unknown parameter: verbose"


names = st.sampled_from(
    sorted(inputs.TRACES_PARAMS | inputs.LOGS_PARAMS | inputs.METRICS_PARAMS
           | inputs.LOG_CONTEXT_PARAMS | {"attr.k", "days", "step", "x"})
)  # fmt: skip


@given(st.dictionaries(names | st.text(max_size=8), st.lists(st.text(max_size=40), max_size=3)))
def test_every_route_parser_only_raises_bad_parameter(raw: dict[str, list[str]]) -> None:
    parsers = [
        lambda: traces_input(raw, "t"), lambda: logs_input(raw, "t"),
        lambda: log_context_input(raw), lambda: metrics_input(raw, "t", NOW),
        lambda: traffic_input(raw, NOW), lambda: heatmap_input(raw, NOW),
        lambda: dashboard_input(raw, NOW), lambda: service_map_input(raw, NOW),
        lambda: purge_input(raw, NOW),
    ]  # fmt: skip
    for parse in parsers:
        try:
            parse()
        except BadParameter as exc:
            assert str(exc)
