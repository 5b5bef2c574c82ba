"""What the receiver keeps: tenant resolution, service filters and the log severity gate.

Pure functions of the resource attributes and an ``IngestPolicy`` built once from the
settings and the request's credentials. The names in user-facing messages are the
environment variables an operator would change (``INGEST_EXCLUDED_SERVICES`` …).
"""

from __future__ import annotations

from dataclasses import dataclass

from otelctx.model import Attributes
from otelctx.tenants import InvalidTenant, sanitize_tenant

UNKNOWN_SERVICE = "unknown_service"
TENANT_ATTRIBUTE = "tenant.id"
SERVICE_ATTRIBUTE = "service.name"

EXCLUDED_SERVICES_SETTING = "INGEST_EXCLUDED_SERVICES"
ALLOWED_SERVICES_SETTING = "INGEST_ALLOWED_SERVICES"
MIN_SEVERITY_SETTING = "INGEST_MIN_SEVERITY"

# OTLP SeverityNumber ranges start at these values (TRACE=1..4, DEBUG=5..8, …).
_SEVERITY_PREFIXES: tuple[tuple[str, int], ...] = (
    ("TRACE", 1),
    ("DEBUG", 5),
    ("INFO", 9),
    ("WARN", 13),
    ("ERR", 17),
    ("FATAL", 21),
    ("CRITICAL", 21),
)
_DEFAULT_SEVERITY = 9  # INFO


def severity_of(number: int, text: str) -> int:
    """The effective OTLP severity number of a log record.

    ``number`` when set (> 0), else derived from the text's case-insensitive prefix
    (TRACE 1, DEBUG 5, INFO 9, WARN 13, ERR 17, FATAL/CRITICAL 21), else INFO (9).
    """
    if number > 0:
        return number
    upper = text.lstrip().upper()
    for prefix, value in _SEVERITY_PREFIXES:
        if upper.startswith(prefix):
            return value
    return _DEFAULT_SEVERITY


@dataclass(frozen=True, slots=True)
class IngestPolicy:
    """Per-request ingest rules.

    ``tenant`` is the tenant already resolved from the API key binding or the
    ``X-Tenant-ID`` header / ``x-tenant-id`` metadata (sanitised), ``None`` if none came.
    """

    tenant: str | None
    default_tenant: str = "default"
    trust_resource_tenant: bool = False
    min_severity: int = 0
    allowed_services: frozenset[str] = frozenset()
    excluded_services: frozenset[str] = frozenset()

    def tenant_for(self, resource: Attributes) -> str:
        """Tenant of one resource's items; ``InvalidTenant`` rejects all of them."""
        if self.tenant is not None:
            return self.tenant
        if self.trust_resource_tenant:
            raw = resource.get(TENANT_ATTRIBUTE)
            if isinstance(raw, str):
                try:
                    tenant = sanitize_tenant(raw)
                except InvalidTenant as exc:
                    raise InvalidTenant(f"resource attribute {TENANT_ATTRIBUTE}: {exc}") from None
                if tenant is not None:
                    return tenant
        return self.default_tenant

    def service_drop_reason(self, service: str) -> str | None:
        """The setting that drops ``service``'s items, or ``None`` when they are kept."""
        if service in self.excluded_services:
            return EXCLUDED_SERVICES_SETTING
        if self.allowed_services and service not in self.allowed_services:
            return ALLOWED_SERVICES_SETTING
        return None

    def keeps_severity(self, number: int, text: str) -> bool:
        return self.min_severity <= 0 or severity_of(number, text) >= self.min_severity


def service_name(resource: Attributes) -> str:
    name = resource.get(SERVICE_ATTRIBUTE)
    return name if isinstance(name, str) and name else UNKNOWN_SERVICE
