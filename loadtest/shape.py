"""What the simulated services emit: names, operations, errors and trace shapes.

The shapes follow the original simulator, minus its bugs (⚠ in the inventory: durations
were real sleeps, so producers sent ~5 spans/s instead of 50, and errors always landed
on parent spans):

- services are named ``loadsim-svc-000`` … (three digits, more when needed);
- each service rotates strictly over the five ``OPERATIONS``, span after span;
- exactly 5% of a service's spans are errors: after n spans, ``n // 20`` were errors
  (``ErrorSelector``), whatever the mix of parents and children;
- every 10th trace is a parent with 1-3 children; its first child runs in the *next*
  service (index + 1, wrapping), so the service map has an edge from every service to
  the next; the other children stay in the parent's service;
- durations are 5-500 ms, simulated in the timestamps (nothing sleeps).

Trace ids are the run id (6 random bytes per run, so reruns never collide with stored
spans), the service index and a counter; only the shapes come from ``--seed``.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

OPERATIONS = (
    "GET /api/items",
    "POST /api/orders",
    "GET /health",
    "GET /api/users",
    "POST /api/payments",
)
ERROR_NUMERATOR, ERROR_DENOMINATOR = 1, 20  # exactly 5%
PARENT_EVERY = 10  # every 10th trace has children
MAX_CHILDREN = 3
MIN_DURATION_NS = 5_000_000
MAX_DURATION_NS = 500_000_000
ERROR_MESSAGE = "simulated error"


class Kind(enum.IntEnum):
    """OTLP ``Span.SpanKind`` values used here."""

    INTERNAL = 1
    SERVER = 2


def service_name(index: int) -> str:
    """``loadsim-svc-000`` for index 0; at least three digits."""
    if index < 0:
        raise ValueError(f"service index must be >= 0, got {index}")
    return f"loadsim-svc-{index:03d}"


class ErrorSelector:
    """Bresenham accumulator: after n calls, exactly ``n * num // den`` returned True.

    With 1/20 the 20th, 40th, 60th … call is an error, so any prefix of a service's spans
    has exactly 5% errors (rounded down), independent of the trace shapes."""

    __slots__ = ("_acc", "_den", "_num")

    def __init__(self, numerator: int = ERROR_NUMERATOR, denominator: int = ERROR_DENOMINATOR):
        if not 0 <= numerator <= denominator or denominator <= 0:
            raise ValueError("need 0 <= numerator <= denominator, denominator > 0")
        self._num, self._den, self._acc = numerator, denominator, 0

    def next(self) -> bool:
        self._acc += self._num
        if self._acc >= self._den:
            self._acc -= self._den
            return True
        return False


@dataclass(slots=True)
class PlannedSpan:
    """One span to export; ``service`` is the index of the service it belongs to.

    Not ``frozen``: 10,000 of these are made every second, and a frozen dataclass's
    ``__init__`` costs several times more (as otelctx's model records); treat it as
    immutable all the same."""

    service: int
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    operation: int  # index into OPERATIONS
    kind: Kind
    start_ns: int
    end_ns: int
    error: bool
    seq: int  # the emitting service's span counter


class TraceShaper:
    """The span stream of one service (the *emitter*).

    ``next_trace(end_ns)`` returns a trace ending at ``end_ns``: one root span, or every
    ``PARENT_EVERY``-th time a parent with 1-3 children, the first of which belongs to the
    next service. Operations and errors advance over every span emitted, children
    included, so both rules hold exactly over the emitter's stream.
    """

    def __init__(self, index: int, services: int, run_id: bytes, seed: int) -> None:
        if not 0 <= index < services or services > 0xFFFF:
            raise ValueError(f"service index {index} outside 0..{services - 1} (max 65535)")
        if len(run_id) != 6:
            raise ValueError("run_id must be 6 bytes")
        self.index = index
        self._downstream = (index + 1) % services
        self._prefix = run_id + index.to_bytes(2, "big")
        self._rng = random.Random(seed * 100_003 + index)
        self._errors = ErrorSelector()
        self._traces = 0
        self._spans = 0

    @property
    def spans_emitted(self) -> int:
        return self._spans

    def next_trace(self, end_ns: int) -> list[PlannedSpan]:
        self._traces += 1
        trace_id = self._prefix + self._traces.to_bytes(8, "big")
        draw = self._rng.random  # random() is ~20x cheaper than randint() on this path
        children = (
            1 + int(draw() * MAX_CHILDREN) if self._traces % PARENT_EVERY == 1 else 0
        )  # the 1st, 11th, 21st … trace: a parent straight away, not only after 9 roots
        low = MIN_DURATION_NS * (children + 1)  # each child gets >= 5 ms
        duration = low + int(draw() * (MAX_DURATION_NS - low + 1))
        start = end_ns - duration
        root = self._span(self.index, trace_id, b"", Kind.SERVER, start, end_ns)
        spans = [root]
        slot = duration // (children + 1)
        for k in range(children):
            service = self._downstream if k == 0 else self.index
            kind = Kind.SERVER if k == 0 else Kind.INTERNAL
            child_start = start + k * slot
            spans.append(
                self._span(service, trace_id, root.span_id, kind, child_start, child_start + slot)
            )
        return spans

    def _span(
        self, service: int, trace_id: bytes, parent: bytes, kind: Kind, start: int, end: int
    ) -> PlannedSpan:
        seq = self._spans
        self._spans += 1
        return PlannedSpan(
            service,
            trace_id,
            (seq + 1).to_bytes(8, "big"),  # span id: unique within the trace, never zero
            parent,
            seq % len(OPERATIONS),
            kind,
            start,
            end,
            self._errors.next(),
            seq,
        )

    def batch(self, spans_due: int, now_ns: int, interval_ns: int) -> list[PlannedSpan]:
        """Whole traces worth at least ``spans_due`` spans (a parent's children may
        overshoot by up to 3; the caller carries the difference), ending spread evenly
        over the last ``interval_ns`` before ``now_ns``."""
        out: list[PlannedSpan] = []
        if spans_due <= 0:
            return out
        step = interval_ns // spans_due
        while len(out) < spans_due:
            out.extend(self.next_trace(now_ns - (spans_due - 1 - len(out)) * step))
        return out
