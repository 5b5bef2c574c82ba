"""SignalStore: log clusters (Drain templates per service) and metric nodes.

Log clusters: one tenant-wide :class:`~otelctx.graph.drain.Drain` mines templates; a
cluster is a (service, template) pair with its count, severity counts, first/last seen and
a sample line. At most ``max_clusters`` clusters are kept (least recently seen evicted,
counted as ``hits["log_clusters"]``); the Drain itself holds at most as many templates
(evictions counted as ``hits["drain_templates"]``). Clusters not seen for
``CLUSTER_TTL_NS`` are pruned.

Metric nodes: one per (service, metric name), at most ``max_metrics`` (least recently
seen evicted, ``hits["metrics"]``). Each keeps an exponentially weighted mean and
variance of its values, so a z-score of a new value against the recent past is real
(the original's "deviation from the range middle" could never exceed 1). For a
cumulative monotonic sum the value is the increase since the previous point of the
same series, since the running total itself always grows.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

import orjson

from otelctx.graph.drain import Drain, Match
from otelctx.model import LogRecord, MetricPoint, MetricType

CLUSTER_TTL_NS = 24 * 3600 * 1_000_000_000
METRIC_ALPHA = 0.1
METRIC_MIN_SAMPLES = 10
_SERIES_PER_METRIC = 64
_CUMULATIVE = 2  # AGGREGATION_TEMPORALITY_CUMULATIVE
ERROR_SEVERITY = 17  # OTLP SeverityNumber ERROR
WARN_SEVERITY = 13


def severity_name(number: int) -> str:
    if number >= 21:
        return "FATAL"
    if number >= ERROR_SEVERITY:
        return "ERROR"
    if number >= WARN_SEVERITY:
        return "WARN"
    if number >= 9:
        return "INFO"
    if number >= 5:
        return "DEBUG"
    if number >= 1:
        return "TRACE"
    return "UNSPECIFIED"


@dataclass(slots=True)
class LogCluster:
    service: str
    template_id: int
    template: str
    sample: str
    first_seen_ns: int
    last_seen_ns: int
    count: int = 0
    max_severity: int = 0
    severities: dict[str, int] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return cluster_id(self.service, self.template_id)


def cluster_id(service: str, template_id: int) -> str:
    return f"lc_{service}_{template_id:016x}"


@dataclass(slots=True)
class MetricNode:
    service: str
    name: str
    first_seen_ns: int
    last_seen_ns: int
    samples: int = 0
    last_value: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    mean: float = 0.0
    variance: float = 0.0
    last_z: float = 0.0  # the newest value against the mean/variance before it
    previous: dict[int, float] = field(default_factory=dict)  # cumulative series -> last total

    def observe(self, value: float, now_ns: int) -> None:
        if self.samples >= METRIC_MIN_SAMPLES and self.variance > 0:
            self.last_z = (value - self.mean) / math.sqrt(self.variance)
        else:
            self.last_z = 0.0
        if self.samples == 0:
            self.mean = value
        else:
            diff = value - self.mean
            incr = METRIC_ALPHA * diff
            self.mean += incr
            self.variance = (1 - METRIC_ALPHA) * (self.variance + diff * incr)
        self.samples += 1
        self.last_value = value
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        self.last_seen_ns = now_ns


def _body_text(body: object) -> str:
    if isinstance(body, str):
        return body
    if body is None:
        return ""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()


def metric_value(point: MetricPoint) -> float | None:
    """The number a point contributes: a gauge/sum value, or a histogram/summary mean."""
    if point.metric_type in (MetricType.GAUGE, MetricType.SUM):
        return point.value
    if point.count and point.sum is not None:
        return point.sum / point.count
    return None


class SignalStore:
    def __init__(self, max_clusters: int, max_metrics: int, hits: Counter[str]) -> None:
        self.max_clusters = max_clusters
        self.max_metrics = max_metrics
        self.hits = hits
        self.drain = Drain(max_templates=max_clusters)
        self.clusters: OrderedDict[tuple[str, int], LogCluster] = OrderedDict()
        self.metrics: OrderedDict[tuple[str, str], MetricNode] = OrderedDict()
        # template id -> services with a cluster of it (to follow a template's new id)
        self._services_of: dict[int, set[str]] = {}

    # -- logs -----------------------------------------------------------------------------

    def add_log(self, record: LogRecord, now_ns: int) -> LogCluster | None:
        evicted = self.drain.evicted
        match = self.drain.add(_body_text(record.body), now_ns)
        self.hits["drain_templates"] += self.drain.evicted - evicted
        if match is None:
            return None
        self._follow(match)
        tid = match.template.id
        key = (record.service_name, tid)
        cluster = self.clusters.get(key)
        if cluster is None:
            if len(self.clusters) >= self.max_clusters:
                self.hits["log_clusters"] += 1
                (svc, old), _ = self.clusters.popitem(last=False)
                self._forget(svc, old)
            cluster = LogCluster(record.service_name, tid, match.template.text,
                                 match.template.sample, now_ns, now_ns)  # fmt: skip
            self.clusters[key] = cluster
            self._services_of.setdefault(tid, set()).add(record.service_name)
        else:
            self.clusters.move_to_end(key)
            cluster.template = match.template.text
        cluster.count += 1
        cluster.last_seen_ns = now_ns
        sev = severity_name(record.severity_number)
        cluster.severities[sev] = cluster.severities.get(sev, 0) + 1
        cluster.max_severity = max(cluster.max_severity, record.severity_number)
        return cluster

    def _follow(self, match: Match) -> None:
        """Re-key clusters of a template whose id changed in a merge (or was folded)."""
        new = match.template.id
        for old in match.previous_ids:
            for svc in self._services_of.pop(old, set()):
                cluster = self.clusters.pop((svc, old), None)
                if cluster is None:
                    continue
                target = self.clusters.get((svc, new))
                if target is None:
                    cluster.template_id = new
                    cluster.template = match.template.text
                    self.clusters[(svc, new)] = cluster
                else:
                    target.count += cluster.count
                    target.first_seen_ns = min(target.first_seen_ns, cluster.first_seen_ns)
                    target.max_severity = max(target.max_severity, cluster.max_severity)
                    for k, v in cluster.severities.items():
                        target.severities[k] = target.severities.get(k, 0) + v
                self._services_of.setdefault(new, set()).add(svc)

    def _forget(self, service: str, tid: int) -> None:
        services = self._services_of.get(tid)
        if services is not None:
            services.discard(service)
            if not services:
                del self._services_of[tid]

    def clusters_of(self, service: str, since_ns: int, min_severity: int = 0) -> list[LogCluster]:
        """The service's clusters seen since ``since_ns`` at ``min_severity`` or above, the
        most severe and most frequent first."""
        found = [
            c for (svc, _), c in self.clusters.items()
            if svc == service and c.last_seen_ns >= since_ns and c.max_severity >= min_severity
        ]  # fmt: skip
        found.sort(key=lambda c: (-c.max_severity, -c.count, c.template_id))
        return found

    def cluster(self, cid: str) -> LogCluster | None:
        for c in self.clusters.values():
            if c.id == cid:
                return c
        return None

    # -- metrics --------------------------------------------------------------------------

    def add_metric(self, point: MetricPoint, now_ns: int) -> MetricNode | None:
        value = metric_value(point)
        if value is None or not math.isfinite(value):
            return None
        key = (point.service_name, point.name)
        node = self.metrics.get(key)
        if node is None:
            if len(self.metrics) >= self.max_metrics:
                self.hits["metrics"] += 1
                self.metrics.popitem(last=False)
            node = self.metrics[key] = MetricNode(point.service_name, point.name, now_ns, now_ns)
        else:
            self.metrics.move_to_end(key)
        if (
            point.metric_type is MetricType.SUM
            and point.is_monotonic
            and point.aggregation_temporality == _CUMULATIVE
        ):
            series = hash(orjson.dumps(point.attributes, option=orjson.OPT_SORT_KEYS))
            previous = node.previous.get(series)
            if previous is None and len(node.previous) >= _SERIES_PER_METRIC:
                return node  # too many series to follow; keep the node, skip the value
            node.previous[series] = value
            if previous is None or value < previous:
                node.last_seen_ns = now_ns
                return node  # first point or a counter reset: no increase to observe
            value -= previous
        node.observe(value, now_ns)
        return node

    def metrics_of(self, service: str) -> list[MetricNode]:
        return sorted((m for (svc, _), m in self.metrics.items() if svc == service),
                      key=lambda m: m.name)  # fmt: skip

    def prune(self, now_ns: int) -> None:
        cutoff = now_ns - CLUSTER_TTL_NS
        while self.clusters:
            key, cluster = next(iter(self.clusters.items()))
            if cluster.last_seen_ns >= cutoff:
                break
            del self.clusters[key]
            self._forget(*key)
        while self.metrics:
            metric_key, metric = next(iter(self.metrics.items()))
            if metric.last_seen_ns >= cutoff:
                break
            del self.metrics[metric_key]
