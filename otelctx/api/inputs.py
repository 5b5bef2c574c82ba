"""What each query route accepts, turned into storage queries: pure (no quart).

Each ``*_input`` function takes a request's query string (name → values), the tenant
and, where a default window depends on it, the current time, and returns the typed
query or raises :class:`~otelctx.api.params.BadParameter`. The parameter names each
route accepts are the ``*_PARAMS`` sets; the OpenAPI document describes the same ones
(a unit test checks they agree).

Windows are ``[start, end)`` in unix nanoseconds; ``start > end`` is an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from otelctx.api.params import (
    MAX_NS,
    Args,
    BadParameter,
    parse_int,
    parse_severity,
    parse_time,
    parse_trace_id,
)
from otelctx.model import StatusCode
from otelctx.storage.queries import MAX_PAGE, LogQuery, MetricQuery, TraceQuery, TraceSort

Raw = Mapping[str, Sequence[str]]

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

MAX_OFFSET = 1_000_000
MAX_BUCKETS = 10_000
AUTO_BUCKETS = 120  # the default step of /api/metrics keeps a window to this many buckets
MAX_STEP_S = 10 * 365 * 86_400
DEFAULT_WINDOW = 30 * MINUTE  # traffic, heatmap, dashboard, service map
METRICS_WINDOW = HOUR  # /api/metrics
TRAFFIC_STEP = MINUTE
HEATMAP_LIMIT, MAX_HEATMAP_LIMIT = 2000, 10_000
CONTEXT_WINDOW_S, MAX_CONTEXT_WINDOW_S = 60, 3600
CONTEXT_LIMIT = 100
PURGE_DAYS, MAX_PURGE_DAYS = 7, 36_500
ATTR_PREFIX = "attr."

# "Nice" bucket widths for the automatic step; past a day, whole days.
_NICE_STEPS_S = (
    1,
    5,
    10,
    15,
    30,
    60,
    300,
    600,
    900,
    1800,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86_400,
)

STATUS = {"error": StatusCode.ERROR, "ok": StatusCode.OK, "unset": StatusCode.UNSET}
SORT = {
    "start_time": TraceSort.START_TIME,
    "timestamp": TraceSort.START_TIME,
    "duration": TraceSort.DURATION,
}
ORDER = {"desc": True, "asc": False}

_WINDOW = ("start", "end")
TRACES_PARAMS = frozenset(
    {
        "service_name",
        "operation",
        "status",
        "min_duration_ms",
        "max_duration_ms",
        *_WINDOW,
        "sort_by",
        "order",
        "limit",
        "offset",
    }
)
LOGS_PARAMS = frozenset(
    {"service_name", "severity", "search", "trace_id", *_WINDOW, "limit", "offset", "order"}
)
LOG_CONTEXT_PARAMS = frozenset({"timestamp", "window", "limit"})
METRICS_PARAMS = frozenset({"name", "service_name", *_WINDOW, "step"})
METADATA_METRICS_PARAMS = frozenset({"service_name"})
TRAFFIC_PARAMS = frozenset({"service_name", *_WINDOW, "step"})
HEATMAP_PARAMS = frozenset({"service_name", *_WINDOW, "limit"})
DASHBOARD_PARAMS = frozenset({"service_name", *_WINDOW})
SERVICE_MAP_PARAMS = frozenset(_WINDOW)
PURGE_PARAMS = frozenset({"days"})
NO_PARAMS: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Window:
    start_ns: int
    end_ns: int


@dataclass(frozen=True, slots=True)
class Bucketed:
    """A window cut into step-aligned buckets, for the traffic route."""

    window: Window
    step_ns: int
    services: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Heatmap:
    window: Window
    services: tuple[str, ...]
    limit: int


@dataclass(frozen=True, slots=True)
class Filtered:
    """A window and a root-service filter (dashboard)."""

    window: Window
    services: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LogContext:
    time_ns: int
    window_seconds: int
    limit: int

    @property
    def window_ns(self) -> int:
        return self.window_seconds * SECOND


def no_input(raw: Raw) -> None:
    """For routes without parameters: any parameter is unknown."""
    Args(raw, NO_PARAMS)


def _ns_from_ms(ms: float | None) -> int | None:
    return None if ms is None else min(round(ms * 1_000_000), MAX_NS)


def _open_window(args: Args) -> tuple[int | None, int | None]:
    start, end = args.time("start"), args.time("end")
    if start is not None and end is not None and start > end:
        raise BadParameter("start", "must not be after end")
    return start, end


def window(args: Args, now_ns: int, default_span: int) -> Window:
    """start/end, defaulting to ``[end - default_span, now)``; start > end is an error."""
    start, end = _open_window(args)
    end = now_ns if end is None else end
    start = max(0, end - default_span) if start is None else start
    if start > end:
        raise BadParameter("start", "must not be after end (end defaults to now)")
    return Window(start, end)


def bucket_count(w: Window, step_ns: int) -> int:
    """Step-aligned buckets that ``[start, end)`` touches (0 for an empty window)."""
    if w.end_ns <= w.start_ns:
        return 0
    return (w.end_ns - 1) // step_ns - w.start_ns // step_ns + 1


def auto_step(w: Window, max_buckets: int, floor_s: int = 1) -> int:
    """The smallest nice step (≥ ``floor_s``) that cuts ``w`` into at most ``max_buckets``."""
    for s in _NICE_STEPS_S:
        if s >= floor_s and bucket_count(w, s * SECOND) <= max_buckets:
            return s * SECOND
    days = max(1, floor_s // 86_400)
    while bucket_count(w, days * DAY) > max_buckets:
        days = max(days + 1, (w.end_ns - w.start_ns) // (max_buckets * DAY))
    return days * DAY


def _step(args: Args, w: Window, default_ns: int) -> int:
    text = args.one("step")
    if text is None:
        return default_ns
    step_ns = parse_int("step", text, 1, MAX_STEP_S) * SECOND
    n = bucket_count(w, step_ns)
    if n > MAX_BUCKETS:
        raise BadParameter(
            "step",
            f"the window would have {n} buckets, at most {MAX_BUCKETS}: "
            "use a larger step or a shorter window",
        )
    return step_ns


# -- routes --------------------------------------------------------------------------


def traces_input(raw: Raw, tenant: str) -> TraceQuery:
    args = Args(raw, TRACES_PARAMS, (ATTR_PREFIX,))
    start, end = _open_window(args)
    min_ms = args.number("min_duration_ms", 0, 1e15)
    max_ms = args.number("max_duration_ms", 0, 1e15)
    if min_ms is not None and max_ms is not None and min_ms > max_ms:
        raise BadParameter("min_duration_ms", "must not be above max_duration_ms")
    return TraceQuery(
        tenant_id=tenant,
        services=args.texts("service_name"),
        operation=args.text("operation"),
        attributes=args.prefixed(ATTR_PREFIX),
        status=args.choice("status", STATUS, None),
        min_duration_ns=_ns_from_ms(min_ms),
        max_duration_ns=_ns_from_ms(max_ms),
        start_ns=start,
        end_ns=end,
        sort=args.choice("sort_by", SORT, TraceSort.START_TIME),
        descending=args.choice("order", ORDER, True),
        limit=args.integer("limit", 20, 1, MAX_PAGE),
        offset=args.integer("offset", 0, 0, MAX_OFFSET),
    )


def logs_input(raw: Raw, tenant: str) -> LogQuery:
    args = Args(raw, LOGS_PARAMS)
    start, end = _open_window(args)
    severity = args.one("severity")
    trace_id = args.one("trace_id")
    return LogQuery(
        tenant_id=tenant,
        services=args.texts("service_name"),
        min_severity=None if severity is None else parse_severity("severity", severity),
        search=args.text("search"),
        trace_id=None if trace_id is None else parse_trace_id("trace_id", trace_id),
        start_ns=start,
        end_ns=end,
        limit=args.integer("limit", 50, 1, MAX_PAGE),
        offset=args.integer("offset", 0, 0, MAX_OFFSET),
        descending=args.choice("order", ORDER, True),
    )


def log_context_input(raw: Raw) -> LogContext:
    args = Args(raw, LOG_CONTEXT_PARAMS)
    return LogContext(
        time_ns=parse_time("timestamp", args.required("timestamp")),
        window_seconds=args.integer("window", CONTEXT_WINDOW_S, 0, MAX_CONTEXT_WINDOW_S),
        limit=args.integer("limit", CONTEXT_LIMIT, 1, MAX_PAGE),
    )


def metrics_input(raw: Raw, tenant: str, now_ns: int) -> MetricQuery:
    args = Args(raw, METRICS_PARAMS)
    name = args.text("name")
    if name is None:
        raise BadParameter("name", "is required", message="missing parameter: name")
    w = window(args, now_ns, METRICS_WINDOW)
    step_ns = _step(args, w, auto_step(w, AUTO_BUCKETS))
    return MetricQuery(tenant, name, args.text("service_name"), w.start_ns, w.end_ns, step_ns)


def metadata_metrics_input(raw: Raw) -> str | None:
    return Args(raw, METADATA_METRICS_PARAMS).text("service_name")


def traffic_input(raw: Raw, now_ns: int) -> Bucketed:
    args = Args(raw, TRAFFIC_PARAMS)
    w = window(args, now_ns, DEFAULT_WINDOW)
    # 60 s by default; coarser only where a minute grid would pass MAX_BUCKETS
    step_ns = _step(args, w, auto_step(w, MAX_BUCKETS, floor_s=TRAFFIC_STEP // SECOND))
    return Bucketed(w, step_ns, args.texts("service_name"))


def heatmap_input(raw: Raw, now_ns: int) -> Heatmap:
    args = Args(raw, HEATMAP_PARAMS)
    w = window(args, now_ns, DEFAULT_WINDOW)
    limit = args.integer("limit", HEATMAP_LIMIT, 1, MAX_HEATMAP_LIMIT)
    return Heatmap(w, args.texts("service_name"), limit)


def dashboard_input(raw: Raw, now_ns: int) -> Filtered:
    args = Args(raw, DASHBOARD_PARAMS)
    return Filtered(window(args, now_ns, DEFAULT_WINDOW), args.texts("service_name"))


def service_map_input(raw: Raw, now_ns: int) -> Window:
    return window(Args(raw, SERVICE_MAP_PARAMS), now_ns, DEFAULT_WINDOW)


def purge_input(raw: Raw, now_ns: int) -> int:
    """The purge cutoff: now minus ``days`` (default 7)."""
    days = Args(raw, PURGE_PARAMS).integer("days", PURGE_DAYS, 1, MAX_PURGE_DAYS)
    return max(0, now_ns - days * DAY)
