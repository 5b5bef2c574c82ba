"""Drain log template mining (He et al., 2017), as the original's ``drain.go``.

A line is masked (:func:`mask`), split on whitespace and routed down a fixed-depth tree:
first by its number of tokens, then by each of its first ``depth - 2`` tokens (the depth
counts the root and the length layer, as in the Drain paper: depth 4 routes on two
tokens). The leaf holds
templates of that shape; the most similar one (the fraction of positions that are equal
or a ``<*>`` wildcard in the template) absorbs the line if the similarity reaches
``similarity`` — differing positions become ``<*>`` and never turn back to literals —
otherwise the line starts a new template.

Contract:

- A template's id is FNV-64a of its tokens joined by a NUL byte: the same tokens give the
  same id in every process, so ids survive restarts (:meth:`Drain.export` /
  :meth:`Drain.load`). A merge that changes the tokens changes the id;
  :meth:`Drain.add` reports the previous id so callers can follow. When the new id is
  already a live template, the two are folded into that one (counts summed, first seen
  the earliest).
- At most ``max_templates`` are kept; the least recently matched is evicted beyond that
  (counted in ``evicted``), and tree nodes left empty go with it, so memory is bounded.
- A node has at most ``max_children`` literal children; further tokens share its
  ``<*>`` child.
- Empty and whitespace-only lines yield no template. Nothing raises on odd input
  (unicode, very long lines).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field

WILDCARD = "<*>"
SAMPLE_MAX = 512
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK64 = (1 << 64) - 1

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_H = r"[0-9a-fA-F]{1,4}"
# Applied in this order; each replaces what the ones before it left.
MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
        "<TS>",
    ),
    (re.compile(r"(?<!\d)1\d{12}(?!\d)"), "<TS>"),  # unix milliseconds (2001..2286)
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), "<EMAIL>"),
    (
        re.compile(
            r"(?<![0-9a-fA-F])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}"
            r"-[0-9a-fA-F]{12}(?![0-9a-fA-F])"
        ),
        "<UUID>",
    ),
    (re.compile(rf"(?<![\d.]){_OCTET}(?:\.{_OCTET}){{3}}(?::\d{{1,5}})?(?![\d.])"), "<IP>"),
    (
        re.compile(
            rf"(?<![\w:])(?:(?:{_H}:){{7}}{_H}"
            rf"|(?:{_H}(?::{_H}){{0,6}})?::(?:{_H}(?::{_H}){{0,6}})?)(?![\w:])"
        ),
        "<IP>",
    ),
    (re.compile(r"\b0[xX][0-9a-fA-F]+\b"), "<HEX>"),
    (re.compile(r"\b[0-9a-fA-F]{16,}\b"), "<HEX>"),
    (re.compile(r"-?\d+(?:\.\d+)?\b"), "<NUM>"),
)


def mask(line: str) -> str:
    """Replace variable parts (timestamps, e-mails, ids, addresses, numbers) by markers."""
    for pattern, marker in MASKS:
        line = pattern.sub(marker, line)
    return line


def tokenize(line: str) -> list[str]:
    return mask(line).split()


def template_id(tokens: list[str] | tuple[str, ...]) -> int:
    """FNV-64a of the tokens joined by a NUL byte (an unsigned 64-bit integer)."""
    h = _FNV_OFFSET
    for byte in "\x00".join(tokens).encode("utf-8", "surrogatepass"):
        h = ((h ^ byte) * _FNV_PRIME) & _MASK64
    return h


def to_signed64(value: int) -> int:
    """The id as a signed 64-bit integer (for a BIGINT column); :func:`from_signed64` undoes it."""
    return value - (1 << 64) if value >= 1 << 63 else value


def from_signed64(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


@dataclass(frozen=True, slots=True)
class TemplateRecord:
    """A template as it is persisted (table ``drain_templates``)."""

    id: int
    tokens: tuple[str, ...]
    count: int
    first_seen_ns: int
    last_seen_ns: int
    sample: str


@dataclass(slots=True, eq=False)
class _Node:
    parent: _Node | None
    key: str | int
    children: dict[str | int, _Node] = field(default_factory=dict)
    templates: list[Template] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class Template:
    id: int
    tokens: list[str]
    count: int
    first_seen_ns: int
    last_seen_ns: int
    sample: str
    leaf: _Node

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    def record(self) -> TemplateRecord:
        return TemplateRecord(self.id, tuple(self.tokens), self.count, self.first_seen_ns,
                              self.last_seen_ns, self.sample)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Match:
    template: Template
    previous_ids: tuple[int, ...] = ()  # ids this template had (or absorbed) in this call


class Drain:
    def __init__(
        self,
        *,
        depth: int = 4,
        similarity: float = 0.4,
        max_children: int = 100,
        max_templates: int = 50_000,
    ) -> None:
        if depth < 3:
            raise ValueError("depth must be at least 3 (root, length layer, one token)")
        self.depth = depth
        self.similarity = similarity
        self.max_children = max_children
        self.max_templates = max_templates
        self._root = _Node(None, "")
        self.templates: OrderedDict[int, Template] = OrderedDict()  # least recent first
        self.evicted = 0

    def __len__(self) -> int:
        return len(self.templates)

    def add(self, line: str, now_ns: int) -> Match | None:
        """Mine one line; None for an empty one."""
        tokens = tokenize(line)
        if not tokens:
            return None
        leaf = self._leaf(tokens)
        best: Template | None = None
        best_sim = -1.0
        for t in leaf.templates:
            sim = _similarity(t.tokens, tokens)
            if sim > best_sim:
                best, best_sim = t, sim
        if best is not None and best_sim >= self.similarity:
            return self._merge(best, tokens, now_ns)
        tid = template_id(tokens)
        existing = self.templates.get(tid)
        if existing is not None:  # same tokens reached another leaf (children overflowed)
            self._touch(existing, 1, now_ns)
            return Match(existing)
        t = Template(tid, tokens, 1, now_ns, now_ns, line[:SAMPLE_MAX], leaf)
        leaf.templates.append(t)
        self.templates[tid] = t
        self._enforce_cap()
        return Match(t)

    def _merge(self, t: Template, tokens: list[str], now_ns: int) -> Match:
        merged = [a if a == b else WILDCARD for a, b in zip(t.tokens, tokens, strict=True)]
        if merged == t.tokens:
            self._touch(t, 1, now_ns)
            return Match(t)
        old_id = t.id
        new_id = template_id(merged)
        del self.templates[old_id]
        other = self.templates.get(new_id)
        if other is not None:
            # the generalised template already exists: fold this one into it
            other.first_seen_ns = min(other.first_seen_ns, t.first_seen_ns)
            self._touch(other, t.count + 1, now_ns)
            self._detach(t)
            return Match(other, (old_id,))
        t.tokens = merged
        t.id = new_id
        self.templates[new_id] = t
        self._touch(t, 1, now_ns)
        return Match(t, (old_id,))

    def _touch(self, t: Template, n: int, now_ns: int) -> None:
        t.count += n
        t.last_seen_ns = max(t.last_seen_ns, now_ns)
        self.templates.move_to_end(t.id)

    def _leaf(self, tokens: list[str] | tuple[str, ...]) -> _Node:
        node = self._root.children.get(len(tokens))
        if node is None:
            node = self._root.children[len(tokens)] = _Node(self._root, len(tokens))
        for token in tokens[: self.depth - 2]:
            child = node.children.get(token)
            if child is None:
                key = token
                literals = len(node.children) - (WILDCARD in node.children)
                if token != WILDCARD and literals >= self.max_children:
                    key = WILDCARD
                child = node.children.get(key)
                if child is None:
                    child = node.children[key] = _Node(node, key)
            node = child
        return node

    def _enforce_cap(self) -> None:
        while len(self.templates) > self.max_templates:
            _, oldest = self.templates.popitem(last=False)
            self._detach(oldest)
            self.evicted += 1

    def _detach(self, t: Template) -> None:
        """Remove ``t`` from its leaf and prune tree nodes left empty."""
        t.leaf.templates.remove(t)
        node: _Node | None = t.leaf
        while node is not None and node.parent is not None:
            if node.children or node.templates:
                break
            del node.parent.children[node.key]
            node = node.parent

    # -- persistence ----------------------------------------------------------------------

    def export(self) -> list[TemplateRecord]:
        """Every live template, least recently matched first."""
        return [t.record() for t in self.templates.values()]

    def load(self, records: list[TemplateRecord]) -> int:
        """Rebuild templates from records (e.g. after a restart); returns how many were
        added. Records whose id is already live, or which do not hash to their id, are
        skipped. Loading more than ``max_templates`` keeps the most recent."""
        added = 0
        for r in sorted(records, key=lambda r: (r.last_seen_ns, r.id)):
            tokens = list(r.tokens)
            if not tokens or r.id in self.templates or template_id(tokens) != r.id:
                continue
            leaf = self._leaf(tokens)
            t = Template(r.id, tokens, r.count, r.first_seen_ns, r.last_seen_ns,
                         r.sample[:SAMPLE_MAX], leaf)  # fmt: skip
            leaf.templates.append(t)
            self.templates[r.id] = t
            added += 1
        before = self.evicted
        self._enforce_cap()
        return added - (self.evicted - before)

    def node_count(self) -> int:
        """Tree nodes below the root (for memory tests)."""
        stack = [self._root]
        n = 0
        while stack:
            node = stack.pop()
            n += len(node.children)
            stack.extend(node.children.values())
        return n


def _similarity(template: list[str], tokens: list[str]) -> float:
    same = 0
    for a, b in zip(template, tokens, strict=True):
        if a in (b, WILDCARD):
            same += 1
    return same / len(tokens)
