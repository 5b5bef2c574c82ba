"""The healthy markers of a load run (OPERATIONS.md "Healthy markers of a load run").

``parse_prometheus`` reads the text exposition format of ``/metrics/prometheus``;
``server_markers`` turns it into ``Marker`` lines (value, what healthy looks like, and
whether this run looks healthy: True, False, or None when there is nothing to judge,
e.g. a metric this build does not export yet, printed as "n/a").
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

Labels = tuple[tuple[str, str], ...]
Samples = dict[str, list[tuple[Labels, float]]]

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(?:\s+\S+)?$")
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("_count", "_sum"),
}
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text: str) -> Samples:
    """``{sample name: [(labels, value)…]}``; comments and unreadable lines skipped.

    Families declared by ``# TYPE`` but without samples are present with no rows."""
    out: Samples = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            # a declared family without samples yet (a labelled counter never incremented)
            # reads as 0, not as missing
            parts = line.split()
            if len(parts) >= 4:
                family = parts[2].removesuffix("_total")  # both spellings occur
                for suffix in ("", *_SUFFIXES.get(parts[3], ())):
                    out.setdefault(family + suffix, [])
            continue
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line.strip())
        if not m:
            continue
        try:
            value = float(m.group(4))
        except ValueError:
            continue
        labels = tuple(sorted(_LABEL.findall(m.group(3) or "")))
        out.setdefault(m.group(1), []).append((labels, value))
    return out


def total(samples: Samples, name: str, **match: str) -> float | None:
    """Sum of the samples of ``name`` whose labels include ``match``; None if absent."""
    rows = samples.get(name)
    if rows is None:
        return None
    return sum(v for labels, v in rows if _matches(labels, match))


def maximum(samples: Samples, name: str) -> float | None:
    rows = samples.get(name)
    if rows is None:
        return None
    return max((v for _, v in rows), default=0.0)


def _matches(labels: Labels, match: Mapping[str, str]) -> bool:
    have = dict(labels)
    return all(have.get(k) == v for k, v in match.items())


def bucket_quantile(samples: Samples, name: str, q: float, **match: str) -> float | None:
    """Upper bound of the histogram bucket holding quantile ``q`` (0..1) of ``name``
    (summed over series matching ``match``); None without observations."""
    rows = samples.get(name + "_bucket")
    if not rows:
        return None
    cumulative: dict[float, float] = {}
    for labels, value in rows:
        if not _matches(labels, match):
            continue
        bound = float(dict(labels).get("le", "nan"))
        cumulative[bound] = cumulative.get(bound, 0.0) + value
    count = cumulative.get(math.inf, 0.0)
    if count <= 0:
        return None
    for bound in sorted(cumulative):
        if cumulative[bound] >= q * count:
            return bound
    return math.inf


@dataclass(frozen=True, slots=True)
class Marker:
    name: str
    value: str
    healthy_when: str
    healthy: bool | None


def _num(value: float | None, fmt: str = "{:.0f}") -> str:
    return "n/a" if value is None else fmt.format(value)


def _zero(name: str, value: float | None, healthy_when: str = "0") -> Marker:
    return Marker(name, _num(value), healthy_when, None if value is None else value == 0)


def _le_ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "> 10 s" if math.isinf(value) else f"<= {value * 1000:.0f} ms"


def server_markers(s: Samples) -> list[Marker]:
    """Markers read from the server's metrics at the end of a run."""
    lag = bucket_quantile(s, "otelcontext_event_loop_lag_seconds", 0.99)
    export_p99 = bucket_quantile(s, "otelcontext_ingest_request_duration_seconds", 0.99)
    commit_p99 = bucket_quantile(s, "otelcontext_writer_commit_duration_seconds", 0.99)
    in_use = total(s, "otelcontext_db_pool_in_use")
    max_open = total(s, "otelcontext_db_pool_max_open")
    wait_s = total(s, "otelcontext_db_pool_wait_duration_seconds")
    waits = _num(total(s, "otelcontext_db_pool_wait_count"))
    pool = (
        "n/a"
        if in_use is None or max_open is None
        else f"{in_use:.0f}/{max_open:.0f} in use, {waits} waits, {_num(wait_s, '{:.2f}')} s waited"
    )
    pool_ok = None if in_use is None or not max_open else in_use / max_open < 0.8
    return [
        _zero("refused exports", total(s, "otelcontext_ingest_requests_total", outcome="refused")),
        _zero(
            "failed exports (error)", total(s, "otelcontext_ingest_requests_total", outcome="error")
        ),
        _zero(
            "items rejected (overload)",
            total(s, "otelcontext_ingest_rejected_items_total", reason="overload"),
        ),
        _zero("graph events dropped", total(s, "otelcontext_graphrag_events_dropped_total")),
        _zero("DLQ files waiting", total(s, "otelcontext_dlq_files")),
        _zero("DLQ batches enqueued", total(s, "otelcontext_dlq_enqueued_total")),
        _zero(
            "retention failures (max in a row)",
            maximum(s, "otelcontext_retention_consecutive_failures"),
        ),
        Marker("DB pool", pool, "in use < 80% of max", pool_ok),
        _zero("internal errors", total(s, "otelcontext_internal_errors_total")),
        Marker("event-loop lag p99", _le_ms(lag), "<= 50 ms", None if lag is None else lag <= 0.05),
        Marker(
            "export duration p99 (server)",
            _le_ms(export_p99),
            "<= 250 ms",
            None if export_p99 is None else export_p99 <= 0.25,
        ),
        # no verdict: a slow commit shows in the export duration above; this says whether
        # the time went into the database or into waiting for CPU
        Marker("group commit p99", _le_ms(commit_p99), "(where export time goes)", None),
    ]


def resource_markers(
    cpu_main: float | None,
    cpu_workers: float | None,
    rss_main_mib: float | None,
    rss_workers_mib: float | None,
    *,
    max_cores: float = 0.5,
    max_rss_mib: float = 500.0,
) -> list[Marker]:
    """Server CPU (average cores over the run) and peak RSS, main process + children."""
    if cpu_main is None:
        cpu = Marker("server CPU", "n/a (no local server)", f"<= {max_cores:g} cores", None)
    else:
        both = cpu_main + (cpu_workers or 0.0)
        cpu = Marker(
            "server CPU",
            f"{both:.2f} cores (main {cpu_main:.2f} + decode workers {cpu_workers or 0.0:.2f})",
            f"<= {max_cores:g} cores",
            both <= max_cores,
        )
    if rss_main_mib is None:
        rss = Marker("server peak RSS", "n/a (no local server)", f"<= {max_rss_mib:g} MiB", None)
    else:
        both_mib = rss_main_mib + (rss_workers_mib or 0.0)
        rss = Marker(
            "server peak RSS",
            f"{both_mib:.0f} MiB (main {rss_main_mib:.0f} + decode"
            f" workers {rss_workers_mib or 0.0:.0f})",
            f"<= {max_rss_mib:g} MiB",
            both_mib <= max_rss_mib,
        )
    return [cpu, rss]


def format_markers(markers: list[Marker]) -> list[str]:
    lines = ["── healthy markers " + "─" * 41]
    for m in markers:
        verdict = {True: "ok", False: "CHECK", None: "-"}[m.healthy]
        lines.append(f"{m.name:34} {m.value:44} [{verdict}] healthy: {m.healthy_when}")
    lines.append("─" * 60)
    return lines


_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (\w+) ")


def log_problems(lines: list[str], max_lines: int = 40) -> tuple[int, list[str]]:
    """(how many WARNING/ERROR/CRITICAL records, an excerpt of them with their
    tracebacks, at most ``max_lines`` lines) from otelctx's log lines."""
    count = 0
    excerpt: list[str] = []
    inside = False  # continuation lines (tracebacks) belong to the record above
    for line in lines:
        m = _LOG_LINE.match(line)
        if m:
            inside = m.group(1) in ("WARNING", "ERROR", "CRITICAL")
            count += inside
        if inside and len(excerpt) < max_lines:
            excerpt.append(line.rstrip("\n"))
    return count, excerpt
