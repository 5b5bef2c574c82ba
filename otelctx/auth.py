"""API keys: the tenant key file, constant-time lookup, bearer credentials, tenant binding.

Pure (stdlib and ``otelctx.tenants``): the HTTP middleware and the gRPC receiver share it.

Keys come from two settings. ``API_KEY`` is one shared key that is not bound to a tenant: its
holder names the tenant with ``X-Tenant-ID`` (or gets ``DEFAULT_TENANT``), as in the original.
``API_TENANT_KEYS_FILE`` lists keys bound to one tenant each; a bound key can never act on
another tenant. Both may be set: the file's keys are bound, ``API_KEY`` stays the unbound one.

Key file format (:func:`parse_key_file`), one entry per line::

    # comment lines and blank lines are skipped
    k3y-for-acme=acme
    k3y-for-globex: globex corp

A key is an RFC 6750 bearer token (letters, digits, ``-._~+/``, then optional ``=``
padding), which is also what makes the line unambiguous: the first ``=`` or ``:`` after the
token's characters separates it from the tenant (for ``abc==acme`` the key is ``abc=``; write
``abc== = acme`` or ``abc==: acme`` for the key ``abc==``). The tenant follows the tenant
rule of :mod:`otelctx.tenants`, is trimmed, and cannot start with ``=`` or ``:``. There are
no comments at the end of a line (a tenant may contain ``#``).

Only SHA-256 digests of the keys are kept. :meth:`KeyTable.lookup` compares the digest of
the presented key with every entry's digest using ``hmac.compare_digest`` and never stops
early, so the time taken does not depend on which key matched, or on how much of one did.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

from otelctx.tenants import InvalidTenant, sanitize_tenant

__all__ = [
    "AuthFailure",
    "AuthRequired",
    "Identity",
    "KeyEntry",
    "KeyFileError",
    "KeyTable",
    "TenantMismatch",
    "authenticate",
    "bearer_token",
    "bind_tenant",
    "digest",
    "parse_key_file",
]

# RFC 6750 b64token: the characters a bearer token may hold, then "=" padding.
_TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")
_TOKEN_RULE = "letters, digits and -._~+/ followed by optional = padding (an RFC 6750 bearer token)"


class KeyFileError(ValueError):
    """A key file that cannot be used. ``line`` is 1-based, 0 for the file as a whole.

    The message never contains a key."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}" if line else problem)
        self.line = line
        self.problem = problem


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One accepted key: its SHA-256 digest and the tenant it is bound to (None: unbound)."""

    digest: bytes
    tenant: str | None
    line: int = 0  # where it came from in the key file; 0 for API_KEY


def digest(key: bytes | str) -> bytes:
    raw = key.encode("utf-8") if isinstance(key, str) else key
    return hashlib.sha256(raw).digest()


def _split_line(line: str) -> tuple[str, str] | None:
    """``(key, raw tenant)`` of a non-comment line, or None when it has no separator."""
    m = _TOKEN.match(line)
    if m is None:
        return None
    key = m.group()
    rest = line[m.end() :].lstrip(" \t")
    if rest[:1] in ("=", ":"):
        return key, rest[1:]
    if key.endswith("="):
        # "abc==acme": the token swallowed the separator; give the last "=" back.
        return key[:-1], rest
    return None


def parse_key_file(text: str) -> list[KeyEntry]:
    """The entries of a key file's text, in file order.

    Raises :class:`KeyFileError` for the first problem: a malformed line, an empty key or
    tenant, a key that is not a bearer token, a tenant that breaks the tenant rule, a key
    listed twice, or a file without any entry.
    """
    entries: list[KeyEntry] = []
    first_line: dict[bytes, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip(" \t")  # ASCII blanks only, as for the X-Tenant-ID header
        if not line or line.startswith("#"):
            continue
        if line[0] in "=:":
            raise KeyFileError(number, "empty key")
        split = _split_line(line)
        if split is None:
            raise KeyFileError(
                number, f"expected key=tenant or key: tenant, the key made of {_TOKEN_RULE}"
            )
        key, raw_tenant = split
        try:
            tenant = sanitize_tenant(raw_tenant)
        except InvalidTenant as exc:
            raise KeyFileError(number, str(exc)) from None
        if tenant is None:
            raise KeyFileError(number, "empty tenant")
        if tenant[0] in "=:":
            raise KeyFileError(number, "a tenant cannot start with '=' or ':'")
        key_digest = digest(key)
        if key_digest in first_line:
            raise KeyFileError(number, f"duplicate key (first on line {first_line[key_digest]})")
        first_line[key_digest] = number
        entries.append(KeyEntry(key_digest, tenant, number))
    if not entries:
        raise KeyFileError(0, "holds no keys: add lines of the form key=tenant")
    return entries


class KeyTable:
    """The accepted keys; empty means authentication is off."""

    __slots__ = ("_entries",)

    def __init__(self, entries: Iterable[KeyEntry]) -> None:
        self._entries = tuple(entries)
        if len({e.digest for e in self._entries}) != len(self._entries):
            raise ValueError("a key is listed twice")

    @classmethod
    def build(cls, api_key: str, bound: Iterable[KeyEntry]) -> KeyTable:
        """``API_KEY`` (unbound, when set) and the key file's entries."""
        shared = [KeyEntry(digest(api_key), None)] if api_key else []
        return cls([*shared, *bound])

    @property
    def enabled(self) -> bool:
        return bool(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: bytes) -> KeyEntry | None:
        """The entry whose key is ``key``, or None; constant time in which entry matched."""
        presented = digest(key)
        found: KeyEntry | None = None
        for entry in self._entries:
            # compare_digest on equal-length digests; the loop always visits every entry.
            if hmac.compare_digest(presented, entry.digest) and found is None:
                found = entry
        return found


class AuthFailure(enum.Enum):
    """Why a request was not authenticated; the values are the metric's ``reason`` label."""

    MISSING_HEADER = "missing_header"
    BAD_SCHEME = "bad_scheme"
    BAD_KEY = "bad_key"


_BEARER = b"bearer"


def bearer_token(header: bytes | None) -> bytes | AuthFailure:
    """The token of an ``Authorization: Bearer <token>`` value, or why there is none.

    The scheme is case-insensitive (RFC 7235); the token is what follows the blanks after it.
    An empty token is a bad key, not a bad scheme: the client meant to send one.
    """
    if header is None:
        return AuthFailure.MISSING_HEADER
    value = header.strip(b" \t")
    if not value:
        return AuthFailure.MISSING_HEADER
    scheme, *rest = value.split(None, 1)
    if scheme.lower() != _BEARER:
        return AuthFailure.BAD_SCHEME
    token = rest[0].strip() if rest else b""
    return token if token else AuthFailure.BAD_KEY


def authenticate(table: KeyTable, header: bytes | None) -> KeyEntry | AuthFailure:
    """The key entry an ``Authorization`` header value names, or why it names none."""
    token = bearer_token(header)
    if isinstance(token, AuthFailure):
        return token
    entry = table.lookup(token)
    return entry if entry is not None else AuthFailure.BAD_KEY


class TenantMismatch(Exception):
    """A key bound to one tenant was used naming another."""


def bind_tenant(bound: str | None, named: str | None) -> str | None:
    """The tenant of a request: the key's ``bound`` tenant wins over the ``named`` one.

    ``named`` is the sanitised ``X-Tenant-ID`` / ``x-tenant-id`` (None when absent). A bound
    key may repeat its own tenant; naming another raises :class:`TenantMismatch`. Returns
    None when neither says anything (the caller picks the default, or lets ingest use the
    resource attribute).
    """
    if bound is None:
        return named
    if named is not None and named != bound:
        raise TenantMismatch(f"this API key is bound to another tenant than {named!r}")
    return bound


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request is, as the HTTP middleware or the gRPC receiver resolved it.

    ``tenant``: the key's bound tenant, else the sanitised ``X-Tenant-ID``; None when neither
    names one. ``auth_failure`` is set when authentication is on and no valid key came (only
    public routes get that far). ``tenant_error`` is set for an unusable ``X-Tenant-ID`` on
    routes that answer it themselves (``/v1/*`` answers in OTLP's own error format).
    """

    tenant: str | None = None
    bound: bool = False
    auth_failure: AuthFailure | None = None
    tenant_error: str | None = None


class AuthRequired(Exception):
    """A route needs a tenant and the request has no valid key (authentication is on)."""

    def __init__(self, reason: AuthFailure) -> None:
        super().__init__("unauthorized")
        self.reason = reason
