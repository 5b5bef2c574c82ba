"""Tenant sanitising and the severity scale used by the ingest filters."""

from __future__ import annotations

import pytest

from otelctx.otlp import IngestPolicy, InvalidTenant, sanitize_tenant, severity_of


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        (" acme ", "acme"),
        ("a" * 128, "a" * 128),
        ("tenant-ü 東京", "tenant-ü 東京"),
        ("with\u00a0nbsp", "with\u00a0nbsp"),
    ],
)
def test_sanitize_tenant_accepts(raw: str | None, expected: str | None) -> None:
    assert sanitize_tenant(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["a" * 129, "a\x00b", "a\x1fb", "a\x7fb", "a\u200bb", "a\u202eb", "a\u2028b", "a\u2029b",
     "a\x85b", "a\ufeffb"],
)  # fmt: skip
def test_sanitize_tenant_rejects(raw: str) -> None:
    with pytest.raises(InvalidTenant):
        sanitize_tenant(raw)
    assert issubclass(InvalidTenant, ValueError)


@pytest.mark.parametrize(
    ("number", "text", "expected"),
    [
        (17, "", 17),
        (3, "FATAL", 3),
        (0, "TRACE", 1),
        (0, "debug2", 5),
        (0, "Info", 9),
        (0, "WARNING", 13),
        (0, "warn", 13),
        (0, "err", 17),
        (0, "Error", 17),
        (0, "fatal", 21),
        (0, "critical", 21),
        (0, "", 9),
        (0, "notice", 9),
        (-1, "debug", 5),
    ],
)
def test_severity_of(number: int, text: str, expected: int) -> None:
    assert severity_of(number, text) == expected


def test_policy_service_filters() -> None:
    policy = IngestPolicy(
        tenant=None, allowed_services=frozenset({"a", "b"}), excluded_services=frozenset({"b"})
    )
    assert policy.service_drop_reason("a") is None
    assert policy.service_drop_reason("b") == "INGEST_EXCLUDED_SERVICES"
    assert policy.service_drop_reason("c") == "INGEST_ALLOWED_SERVICES"
    assert IngestPolicy(tenant=None).service_drop_reason("anything") is None
