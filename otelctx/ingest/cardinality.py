"""Per-tenant metric series limit (METRIC_MAX_CARDINALITY).

A series is (service, metric name, point attributes). Once a tenant has the maximum
number of distinct series, points of new series are folded into one overflow series
(name ``__overflow__``, no attributes) per tenant and service, and counted, so a
runaway label never grows storage without bound. Series seen before keep flowing.
The set of series is learned since process start.
"""

from __future__ import annotations

import dataclasses

import orjson

from otelctx.model import MetricPoint

OVERFLOW_NAME = "__overflow__"


class SeriesLimiter:
    def __init__(self, max_series: int) -> None:
        self.max_series = max_series  # 0 = unlimited
        self._series: dict[str, set[bytes]] = {}

    def route(self, points: list[MetricPoint]) -> tuple[list[MetricPoint], int]:
        """Return the points to store and how many were folded into the overflow series."""
        if self.max_series == 0:
            return points, 0
        out: list[MetricPoint] = []
        overflowed = 0
        for p in points:
            known = self._series.setdefault(p.tenant_id, set())
            key = orjson.dumps((p.service_name, p.name, p.attributes), option=orjson.OPT_SORT_KEYS)
            if key in known:
                out.append(p)
            elif len(known) < self.max_series:
                known.add(key)
                out.append(p)
            else:
                overflowed += 1
                # the original name and labels are what overflowed, so they are dropped
                out.append(dataclasses.replace(p, name=OVERFLOW_NAME, attributes={}))
        return out, overflowed
