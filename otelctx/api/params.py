"""Query-string parameters of the HTTP API: parsing and validation, pure (no quart).

Contract: every parser takes the raw text of one parameter and returns a typed value
or raises :class:`BadParameter`, whose message names the parameter and says what is
allowed. For any input string nothing else is raised (the unit tests check this with
hypothesis), so a route never turns a bad query string into a 500.

:class:`Args` wraps a request's query string (name → every value given, in order) and
enforces the rules every route shares: a name the route does not know is an error
(``unknown parameter: x``), never silently ignored; a single-valued parameter given
twice is an error; an empty value is an error for typed parameters.

Times are RFC 3339 (``2026-04-24T03:03:17.123456789Z``, ``…+02:00``; ``T`` or ``t``,
``Z`` or ``z``; digits past nanoseconds are dropped; a leap second ``:60`` counts as
the next second) or integer unix nanoseconds. Stored times are int64 nanoseconds, so
an RFC 3339 time outside 1970-01-01 … 2262-04-11 is clamped to that range: as a
filter bound it selects exactly what the unclamped time would.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")

MAX_NS = 2**63 - 1
MAX_TEXT = 1024  # characters in one text value: bounds the work of a LIKE on every row
MAX_NAME_SHOWN = 64  # characters of an unknown parameter's name echoed in the error
_NS = 1_000_000_000

_DIGITS = re.compile(r"[0-9]{1,30}")  # length-capped: int() of a huge string is slow
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,30}))?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")

# OTLP SeverityNumber at the start of each named range (TRACE = 1..4, DEBUG = 5..8, ...)
SEVERITY_NAMES: dict[str, int] = {
    "TRACE": 1,
    "DEBUG": 5,
    "INFO": 9,
    "WARN": 13,
    "WARNING": 13,
    "ERROR": 17,
    "FATAL": 21,
}


class BadParameter(ValueError):
    """A query parameter the route cannot use; ``str()`` is the message for the client."""

    def __init__(self, name: str, reason: str, *, message: str | None = None) -> None:
        super().__init__(message or f"{name}: {reason}")
        self.name = name
        self.reason = reason

    @classmethod
    def unknown(cls, name: str) -> BadParameter:
        shown = name if len(name) <= MAX_NAME_SHOWN else name[:MAX_NAME_SHOWN] + "..."
        return cls(name, "unknown parameter", message=f"unknown parameter: {shown}")


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 40 else f"{text[:40]!r}..."


# -- scalar parsers ------------------------------------------------------------------


def parse_int(name: str, text: str, low: int, high: int) -> int:
    """A decimal integer (ASCII digits, optional leading ``-``) in ``low..high``."""
    allowed = f"must be an integer in {low}..{high}"
    digits = text[1:] if text.startswith("-") else text
    if not _DIGITS.fullmatch(digits):
        raise BadParameter(name, f"{allowed}, got {_shown(text)}")
    value = int(text)
    if not low <= value <= high:
        raise BadParameter(name, f"{allowed}, got {value}")
    return value


def parse_number(name: str, text: str, low: float, high: float) -> float:
    """A finite decimal number (``12``, ``0.5``, ``1e3``; no NaN or infinity) in
    ``low..high``."""
    allowed = f"must be a number in {low:g}..{high:g}"
    if not _NUMBER.fullmatch(text):
        raise BadParameter(name, f"{allowed}, got {_shown(text)}")
    value = float(text)
    if not (math.isfinite(value) and low <= value <= high):
        raise BadParameter(name, f"{allowed}, got {_shown(text)}")
    return value


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm),
    for any year, so that years datetime cannot hold still parse."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _days_in_month(y: int, m: int) -> int:
    if m == 2:
        leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
        return 29 if leap else 28
    return 30 if m in (4, 6, 9, 11) else 31


def parse_time(name: str, text: str) -> int:
    """RFC 3339 or integer unix nanoseconds → unix nanoseconds in ``0..MAX_NS``."""
    allowed = (
        "must be an RFC 3339 time (e.g. 2026-04-24T03:03:17Z or 2026-04-24T05:03:17.5+02:00)"
        f" or integer unix nanoseconds in 0..{MAX_NS}"
    )
    if _DIGITS.fullmatch(text):
        value = int(text)
        if value > MAX_NS:
            raise BadParameter(name, f"{allowed}, got {_shown(text)}")
        return value
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise BadParameter(name, f"{allowed}, got {_shown(text)}")
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    frac, offset = m.group(7) or "", m.group(8)
    off_min = 0
    if offset not in ("Z", "z"):
        oh, om = int(offset[1:3]), int(offset[4:6])
        if oh > 23 or om > 59:
            raise BadParameter(name, f"{allowed}: the UTC offset {offset} is out of range")
        off_min = (oh * 60 + om) * (1 if offset[0] == "+" else -1)
    if not 1 <= month <= 12 or not 1 <= day <= _days_in_month(year, month):
        raise BadParameter(name, f"{allowed}: {_shown(text)} is not a calendar date")
    if hour > 23 or minute > 59 or second > 60:
        raise BadParameter(name, f"{allowed}: {_shown(text)} is not a time of day")
    seconds = _days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
    ns = (seconds - off_min * 60) * _NS + int((frac + "000000000")[:9])
    return min(max(ns, 0), MAX_NS)


def parse_trace_id(name: str, text: str) -> str:
    """32 hex characters (any case) → lowercase."""
    if not _TRACE_ID.fullmatch(text):
        raise BadParameter(name, f"must be 32 hex characters, got {_shown(text)}")
    return text.lower()


def parse_severity(name: str, text: str) -> int:
    """A severity name (TRACE, DEBUG, INFO, WARN, WARNING, ERROR, FATAL; any case) → the
    first SeverityNumber of its range, or a SeverityNumber 1..24."""
    named = SEVERITY_NAMES.get(text.upper()) if text.isascii() else None
    if named is not None:
        return named
    allowed = f"must be one of {'|'.join(SEVERITY_NAMES)} (any case) or an integer in 1..24"
    if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= 24:
        raise BadParameter(name, f"{allowed}, got {_shown(text)}")
    return int(text)


def parse_text(name: str, text: str) -> str:
    """Free text for a filter: 1..MAX_TEXT characters, no NUL (no database stores it)."""
    if not text:
        raise BadParameter(name, "must not be empty")
    if len(text) > MAX_TEXT:
        raise BadParameter(name, f"must be at most {MAX_TEXT} characters")
    if "\x00" in text:
        raise BadParameter(name, "must not contain a NUL character")
    return text


def parse_choice(name: str, text: str, choices: Mapping[str, T]) -> T:
    """One of the keys of ``choices`` (exact, case-sensitive) → its value."""
    try:
        return choices[text]
    except KeyError:
        allowed = "|".join(choices)
        raise BadParameter(name, f"must be one of {allowed}, got {_shown(text)}") from None


# -- the query string ----------------------------------------------------------------


class Args:
    """One request's query string, checked against the parameters a route accepts.

    ``raw`` maps each name to every value given for it (quart:
    ``request.args.to_dict(flat=False)``). Names in ``allowed`` are accepted, and names
    starting with one of ``prefixes`` (e.g. ``attr.``); any other name raises
    ``BadParameter.unknown`` at construction.
    """

    def __init__(
        self,
        raw: Mapping[str, Sequence[str]],
        allowed: Iterable[str],
        prefixes: tuple[str, ...] = (),
    ) -> None:
        known = frozenset(allowed)
        for name in raw:
            if name not in known and not (prefixes and name.startswith(prefixes)):
                raise BadParameter.unknown(name)
        self._raw = raw

    def one(self, name: str) -> str | None:
        """The value of a single-valued parameter, None when absent."""
        values = self._raw.get(name) or ()
        if len(values) > 1:
            raise BadParameter(name, "given more than once; it takes a single value")
        return values[0] if values else None

    def required(self, name: str) -> str:
        value = self.one(name)
        if value is None:
            raise BadParameter(name, "is required", message=f"missing parameter: {name}")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        text = self.one(name)
        return default if text is None else parse_int(name, text, low, high)

    def number(self, name: str, low: float, high: float) -> float | None:
        text = self.one(name)
        return None if text is None else parse_number(name, text, low, high)

    def time(self, name: str) -> int | None:
        text = self.one(name)
        return None if text is None else parse_time(name, text)

    def text(self, name: str) -> str | None:
        text = self.one(name)
        return None if text is None else parse_text(name, text)

    def texts(self, name: str, limit: int = 100) -> tuple[str, ...]:
        """A repeatable text parameter; duplicates collapse, order is kept."""
        values = self._raw.get(name) or ()
        if len(values) > limit:
            raise BadParameter(name, f"given more than {limit} times")
        return tuple(dict.fromkeys(parse_text(name, v) for v in values))

    def choice(self, name: str, choices: Mapping[str, T], default: T) -> T:
        text = self.one(name)
        return default if text is None else parse_choice(name, text, choices)

    def prefixed(self, prefix: str, limit: int = 20) -> tuple[tuple[str, str], ...]:
        """``prefix<key>=<value>`` pairs (one value per key), sorted by key."""
        pairs = []
        for name in sorted(n for n in self._raw if n.startswith(prefix)):
            key = parse_text(name, name[len(prefix) :]) if name != prefix else ""
            if not key:
                raise BadParameter(name, f"needs a key after {prefix!r}, e.g. {prefix}http.route")
            pairs.append((key, parse_text(name, self.required(name))))
        if len(pairs) > limit:
            raise BadParameter(prefix + "*", f"at most {limit} different keys")
        return tuple(pairs)
