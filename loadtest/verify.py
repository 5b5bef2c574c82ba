"""``--verify``: compare what was acknowledged with what the server stored.

The stored count per service comes from ``GET /api/metrics/service-map?start=&end=``
(unix ns, ``[start, end)`` on span start times) → ``{"nodes":[{"name", "span_count"…}]…}``.

``lost`` sums, over services, the acknowledged spans that are not stored
(``max(0, acked - stored)``); spans stored beyond what was acknowledged (an export
that timed out on the client but was committed, say) are reported as ``extra`` and
never offset a loss elsewhere.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

import orjson

SERVICE_MAP_PATH = "/api/metrics/service-map"


class VerifyError(Exception):
    """The API's answer cannot be used (wrong shape, an error status)."""


def service_map_target(base_path: str, start_ns: int, end_ns: int) -> str:
    return f"{base_path}{SERVICE_MAP_PATH}?" + urlencode({"start": start_ns, "end": end_ns})


def parse_service_map(body: bytes) -> dict[str, int]:
    """``{service name: span_count}`` from a service-map answer; ``VerifyError`` when
    it is not the documented shape."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise VerifyError(f"service map is not JSON: {exc}") from None
    nodes = doc.get("nodes") if isinstance(doc, dict) else None
    if not isinstance(nodes, list):
        raise VerifyError("service map has no nodes[] list")
    counts: dict[str, int] = {}
    for node in nodes:
        if not isinstance(node, dict):
            raise VerifyError(f"service map node is not an object: {node!r}")
        name, count = node.get("name"), node.get("span_count")
        if not isinstance(name, str) or not isinstance(count, int) or isinstance(count, bool):
            raise VerifyError(f"service map node without name/span_count: {node!r}")
        counts[name] = counts.get(name, 0) + count
    return counts


@dataclass(frozen=True, slots=True)
class Comparison:
    lost: int
    extra: int
    acked: int
    stored: int
    short: tuple[tuple[str, int, int], ...]  # (service, acked, stored) where stored < acked

    @property
    def complete(self) -> bool:
        return self.lost == 0


def compare(
    acked: Mapping[str, int], stored: Mapping[str, int], services: Collection[str]
) -> Comparison:
    """Per service of ``services`` (the run's names): lost and extra spans."""
    lost = extra = total_acked = total_stored = 0
    short: list[tuple[str, int, int]] = []
    for name in sorted(services):
        a, s = acked.get(name, 0), stored.get(name, 0)
        total_acked += a
        total_stored += s
        if s < a:
            lost += a - s
            short.append((name, a, s))
        else:
            extra += s - a
    return Comparison(lost, extra, total_acked, total_stored, tuple(short))


def format_verify(result: Comparison, waited_s: float) -> list[str]:
    lines = [
        f"verify: acked={result.acked} stored={result.stored} extra={result.extra}"
        f" (waited {waited_s:.1f} s)"
    ]
    for name, a, s in result.short[:10]:
        lines.append(f"verify: {name}: acked {a}, stored {s}")
    if len(result.short) > 10:
        lines.append(f"verify: … and {len(result.short) - 10} more services short")
    lines.append(f"lost={result.lost}")
    return lines
