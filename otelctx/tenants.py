"""The tenant id rule, shared by configuration (DEFAULT_TENANT) and ingest/API headers.

A tenant id is trimmed of ASCII spaces and tabs, then must be 1..128 characters with no
control or format characters (Unicode Cc, Cf), no line/paragraph separators and no lone
surrogates. Pure: stdlib only.
"""

from __future__ import annotations

import unicodedata

MAX_TENANT_LEN = 128
TENANT_RULE = f"1..{MAX_TENANT_LEN} characters, no control or format characters"


class InvalidTenant(ValueError):
    """A tenant id that breaks the rule; the message says which part."""


def forbidden_char(text: str) -> str | None:
    """The first control/format character of ``text``, or None."""
    if text.isprintable():  # fast path: printable strings have none
        return None
    for ch in text:
        code = ord(ch)
        if code < 32 or code == 127 or ch in "\u2028\u2029":
            return ch
        # Cs: a lone surrogate cannot be stored as UTF-8 either.
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs"):
            return ch
    return None


def sanitize_tenant(raw: str | None) -> str | None:
    """Trim ``raw``; ``None`` when nothing is left, ``InvalidTenant`` when it is unusable."""
    if raw is None:
        return None
    # only ASCII blanks: str.strip() would also eat U+0085 and other controls silently
    tenant = raw.strip(" \t")
    if not tenant:
        return None
    if len(tenant) > MAX_TENANT_LEN:
        raise InvalidTenant(f"tenant id is longer than {MAX_TENANT_LEN} characters")
    ch = forbidden_char(tenant)
    if ch is not None:
        raise InvalidTenant(f"tenant id contains a control or format character (U+{ord(ch):04X})")
    return tenant


def header_text(raw: str | None) -> str | None:
    """An HTTP header value as text: servers hand headers over as latin-1, clients send UTF-8."""
    if raw is None:
        return None
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw
