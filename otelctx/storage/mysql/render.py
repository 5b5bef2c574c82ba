"""SQL text of the MySQL write path, rendered off the event loop: pure and thread-safe.

asyncmy's ``executemany`` renders every value of every row into SQL text in Python,
on the thread that runs both event loops (trio-asyncio): a 10,000-span commit stalled
the server for up to a second. So the backend renders whole multi-row statements
here, in a worker thread, and the asyncio side only sends them (``cursor.execute(sql)``
without parameters, which asyncmy passes on untouched: ``%`` and ``?`` are plain text).

The text is what asyncmy's ``Connection.literal`` would produce on our connections:
strings in single quotes with asyncmy's backslash escapes (NUL, ``\\``, LF, CR,
Ctrl-Z, ``'`` and ``"``), ints in decimal, None as NULL, anything else through
``asyncmy.converters.escape_item`` with the driver's default encoders (a float is its
``repr`` with an exponent). It is exact under two conditions, both held by ``_aio``:

- the connection's character set is utf8mb4 and the text is sent UTF-8 encoded (with
  ``surrogateescape``, as asyncmy does): no byte of a multi-byte UTF-8 sequence looks
  like a quote or a backslash, so escaping characters escapes bytes;
- NO_BACKSLASH_ESCAPES is off: every connection sets its own sql_mode without it, and
  ``_aio`` refuses to send rendered text if the server reports it on.

Statements are cut where asyncmy's ``executemany`` would cut them: rows are added
while a statement stays within ``limit`` bytes; a single longer row goes alone.

Error handling: a value that cannot be rendered or encoded → StorageError
("unstorable value"), before anything is sent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from asyncmy import converters
from asyncmy.errors import ProgrammingError

from otelctx.model import SpanRecord
from otelctx.storage import rows, summaries
from otelctx.storage.base import StorageError, WriteBatch
from otelctx.storage.mysql import schema

CHARSET = "utf8mb4"
_ENCODING = "utf8"  # the Python codec asyncmy encodes utf8mb4 statements with
# what Connection.literal passes to escape_item (Connection.__init__ builds the same)
_ENCODERS = {k: v for k, v in converters.conversions.items() if type(k) is not int}
_KEYS_PER_QUERY = 500
_FLOAT_POINT_COLUMNS = tuple(rows.POINT_COLUMNS.index(c) for c in ("value", "sum", "min", "max"))
# escape_float raises ProgrammingError for inf and NaN
_UNRENDERABLE = (OverflowError, ValueError, TypeError, ProgrammingError)

Key = tuple[str, str, str]


def escape_string(text: str) -> str:
    """``asyncmy.converters.escape_string``, in a few ``str.replace`` passes: several
    times faster on JSON text, which is full of ``"`` (the tests compare the two)."""
    if "\\" in text:  # first: the replacements below add backslashes
        text = text.replace("\\", "\\\\")
    if "'" in text:
        text = text.replace("'", "\\'")
    if '"' in text:
        text = text.replace('"', '\\"')
    if "\0" in text:
        text = text.replace("\0", "\\0")
    if "\n" in text:
        text = text.replace("\n", "\\n")
    if "\r" in text:
        text = text.replace("\r", "\\r")
    if "\x1a" in text:
        text = text.replace("\x1a", "\\Z")
    return text


def literal(value: Any) -> str:
    """``value`` as SQL text, as asyncmy's ``Connection.literal`` renders it."""
    kind = type(value)
    if kind is str:
        return "'" + escape_string(value) + "'"
    if kind is int:
        return str(value)  # escape_int
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + escape_string(value) + "'"
    if isinstance(value, bytes | bytearray):  # a bytearray fails there, as in asyncmy
        text: str = converters.escape_bytes_prefixed(cast(bytes, value))
        return text
    text = converters.escape_item(value, CHARSET, _ENCODERS)
    return text


def values(row: Iterable[Any]) -> bytes:
    """One row as ``(v1,v2,...)``, encoded as asyncmy encodes statements."""
    return ("(" + ",".join(map(literal, row)) + ")").encode(_ENCODING, "surrogateescape")


def cut(statement: schema.RowsStatement, rows_: Iterable[bytes], limit: int) -> list[bytes]:
    """``statement`` over ``rows_`` (from ``values``): as few statements as stay within
    ``limit`` bytes each; none when there are no rows."""
    head, tail = statement.head.encode(_ENCODING), statement.tail.encode(_ENCODING)
    out: list[bytes] = []
    parts: list[bytes] = []
    size = len(head)
    for v in rows_:
        if parts and size + 1 + len(v) + len(tail) > limit:
            out.append(head + b",".join(parts) + tail)
            parts, size = [], len(head)
        size += len(v) + (1 if parts else 0)
        parts.append(v)
    if parts:
        out.append(head + b",".join(parts) + tail)
    return out


@dataclass(frozen=True, slots=True)
class SpanInsert:
    """The INSERTs of some spans of a plan, and the trace upsert that goes with them
    when every one of them turns out to be new."""

    picks: list[int]  # indices into WritePlan.spans
    spans: list[bytes]
    traces: list[bytes]


@dataclass(frozen=True, slots=True)
class WritePlan:
    """A write batch as SQL text."""

    spans: list[SpanRecord]  # the batch's spans without later copies of a key
    span_values: list[bytes]  # the rendered row of each
    first: SpanInsert  # all of them
    others: list[bytes]  # the logs' and the metric points' INSERTs
    logs: int
    points: int


def plan_write(batch: WriteBatch, limit: int) -> WritePlan:
    """Render ``batch``: StorageError ("unstorable value") when a value cannot be."""
    shared = rows.SharedJson()
    try:
        spans = _first_copies(batch.spans)
        span_values = [values(rows.span_row(s, shared)) for s in spans]
        logs = [values(rows.log_row(r, shared)) for r in batch.logs]
        points = [values(_finite(rows.point_row(p, shared))) for p in batch.points]
        first = span_insert(spans, span_values, list(range(len(spans))), limit)
    except _UNRENDERABLE as exc:
        text = " ".join(str(exc).split())
        raise StorageError(f"mysql: write failed: unstorable value: {text}") from exc
    others = cut(schema.INSERT_LOGS, logs, limit) + cut(schema.INSERT_POINTS, points, limit)
    return WritePlan(spans, span_values, first, others, len(logs), len(points))


def span_insert(
    spans: Sequence[SpanRecord], span_values: Sequence[bytes], picks: list[int], limit: int
) -> SpanInsert:
    """The INSERTs of ``spans[i] for i in picks`` and their trace upsert."""
    deltas = summaries.summarize(spans[i] for i in picks)
    # in key order, so that concurrent writers lock trace rows in one order
    deltas.sort(key=lambda d: (d.tenant_id, d.trace_id))
    return SpanInsert(
        picks=picks,
        spans=cut(schema.INSERT_SPANS, [span_values[i] for i in picks], limit),
        traces=cut(schema.UPSERT_TRACES, [values(_trace_row(d)) for d in deltas], limit),
    )


def without_stored(plan: WritePlan, picks: list[int], stored: set[Key], limit: int) -> SpanInsert:
    """``span_insert`` of the picked spans whose keys are not in ``stored``."""
    keep = [i for i in picks if key(plan.spans[i]) not in stored]
    return span_insert(plan.spans, plan.span_values, keep, limit)


def stored_key_queries(plan: WritePlan, picks: Sequence[int], limit: int) -> list[bytes]:
    """SELECTs of which keys of the picked spans are stored (the rows are the keys)."""
    keys = [values(key(plan.spans[i])) for i in picks]
    out: list[bytes] = []
    for i in range(0, len(keys), _KEYS_PER_QUERY):
        out += cut(schema.STORED_SPAN_KEYS, keys[i : i + _KEYS_PER_QUERY], limit)
    return out


def claim(replay_key: str, stored_at_ns: int) -> bytes:
    """The INSERT of a replayed batch's key into ``dlq_replays`` (see Storage.write)."""
    text = schema.CLAIM_REPLAY.format(key=literal(replay_key), at=int(stored_at_ns))
    return text.encode(_ENCODING, "surrogateescape")


def key(s: SpanRecord) -> Key:
    return (s.tenant_id, s.trace_id, s.span_id)


def _first_copies(spans: list[SpanRecord]) -> list[SpanRecord]:
    """``spans`` without later copies of a (tenant, trace, span) key: a batch may hold
    the same span twice, and it is stored (and summarised) once."""
    seen: set[Key] = set()
    out = []
    for s in spans:
        k = key(s)
        if k not in seen:
            seen.add(k)
            out.append(s)
    return out


def _trace_row(d: summaries.SummaryDelta) -> tuple[Any, ...]:
    return (
        d.tenant_id, d.trace_id, d.root_service, d.root_operation, int(d.root_is_entry),
        d.root_start, d.start_time, d.end_time, d.end_time - d.start_time, d.span_count,
        d.error_count, int(d.status_code),
    )  # fmt: skip


def _finite(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """MySQL has no NaN or infinity: store NULL (SQLite stores a NaN as NULL too)."""
    if all(row[i] is None or math.isfinite(row[i]) for i in _FLOAT_POINT_COLUMNS):
        return row
    out = list(row)
    for i in _FLOAT_POINT_COLUMNS:
        if out[i] is not None and not math.isfinite(out[i]):
            out[i] = None
    return tuple(out)
