"""Counting what a request loses: invalid items and items dropped by filters.

Both kinds are reported to the client in ``partial_success`` (rejected count and a
short message), so the message names the first reasons and the settings that dropped
items. Internal to the decoders: one ``Tally`` per request, never shared.
"""

from __future__ import annotations

from collections.abc import Callable

from otelctx.model import Attributes
from otelctx.otlp.policy import IngestPolicy, service_name
from otelctx.tenants import InvalidTenant

MAX_REASONS = 3

# Timestamps and counts are stored as signed 64-bit integers (every backend's BIGINT);
# OTLP's fixed64 can carry more, which no real clock or count reaches: such an item is
# rejected here rather than failing the whole batch in the database.
MAX_TIME = 2**63 - 1
TIME_PROBLEM = "timestamps must be below 2^63 ns (year 2262)"
COUNT_PROBLEM = "counts must be below 2^63"


class Tally:
    __slots__ = ("_dropped", "_plural", "_reasons", "_singular", "invalid")

    def __init__(self, singular: str, plural: str) -> None:
        self._singular = singular
        self._plural = plural
        self._reasons: list[str] = []
        self._dropped: dict[str, int] = {}
        self.invalid = 0

    def reject(self, count: int, reason: str) -> None:
        """Count ``count`` invalid items; ``reason`` goes into the message (first few)."""
        if count <= 0:
            return
        self.invalid += count
        if reason not in self._reasons and len(self._reasons) <= MAX_REASONS:
            self._reasons.append(reason)

    def drop(self, count: int, setting: str) -> None:
        """Count ``count`` items dropped by the filter configured with ``setting``."""
        if count > 0:
            self._dropped[setting] = self._dropped.get(setting, 0) + count

    @property
    def filtered(self) -> int:
        return sum(self._dropped.values())

    def message(self) -> str:
        parts = []
        if self.invalid:
            reasons = ", ".join(self._reasons[:MAX_REASONS])
            if len(self._reasons) > MAX_REASONS:
                reasons += ", …"
            parts.append(f"{self._count(self.invalid)} rejected: {reasons}")
        parts.extend(
            f"{self._count(count)} dropped by {setting}" for setting, count in self._dropped.items()
        )
        return "; ".join(parts)

    def _count(self, n: int) -> str:
        return f"{n} {self._singular if n == 1 else self._plural}"


def admit(
    policy: IngestPolicy, resource: Attributes, tally: Tally, count: Callable[[], int]
) -> tuple[str, str] | None:
    """(tenant, service) for one resource's items, or ``None`` after tallying them all.

    ``count`` is only called when the items are refused.
    """
    try:
        tenant = policy.tenant_for(resource)
    except InvalidTenant as exc:
        tally.reject(count(), str(exc))
        return None
    service = service_name(resource)
    setting = policy.service_drop_reason(service)
    if setting is not None:
        tally.drop(count(), setting)
        return None
    return tenant, service
