"""The disk dead-letter queue: write batches the database could not take, replay them later.

Synchronous and file-level only; the writer and the replay task call it through
``trio.to_thread``. One ``DiskQueue`` per directory per process; its methods are
thread-safe among themselves.

Exception hierarchy::

    DLQError                 the queue could not do what was asked (disk error, bad batch)
    ├── DLQFull              a bound would be exceeded: answer clients with a retryable error
    ├── CorruptEnvelope      a file is not a readable envelope (``reason`` says why)
    └── EntryGone            the entry's file vanished (evicted by ``evict_oldest`` meanwhile)

Envelope (big-endian): magic, version, flags, compressed length, raw length, SHA-256 of
everything before the digest plus the payload, then the payload. The digest in hex is
the batch's replay key (``replay_key``): a file keeps it across retries and restarts
(they rename the file, never rewrite it), so replay can tell the database which batch it
writes and the database can refuse to store one twice. The payload is the
orjson of ``{"spans": [row], "logs": [row], "points": [row]}`` built with
``storage.rows``, so it holds exactly what the database would; the few non-finite
floats of a metric point's own columns (which orjson would write as null) are kept
as strings.

File names: ``<stamp>-<uid>.a<attempts>.t<next attempt, unix ms>.dlq``. The stamp is
time.time_ns(), kept increasing per directory (also across restarts, even if the
clock steps back), the uid is random: FIFO order is the sort by (stamp, uid), and
names never collide across processes. Retry state lives in the name, so recording it
is one atomic rename and it can never drift from the file it belongs to.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from otelctx.storage import rows
from otelctx.storage.base import WriteBatch

MAGIC = b"OTCXDLQ\n"
VERSION = 1
FLAG_ZLIB = 0x01
_KNOWN_FLAGS = FLAG_ZLIB
_HEADER = struct.Struct(">8sBBQQ")
_DIGEST_SIZE = 32
HEADER_SIZE = _HEADER.size + _DIGEST_SIZE
# The DLQ is written while the database is down and clients wait: speed over ratio.
_ZLIB_LEVEL = 1
# A point row's numeric columns (value, count, sum, min, max): see POINT_COLUMNS.
_POINT_NUMBERS = range(8, 13)

_NAME = re.compile(r"^(\d{20})-([0-9a-f]{16})\.a(\d+)\.t(\d+)\.dlq$")
_TMP_PREFIX = ".tmp-"
# Temp files younger than this may belong to another live process mid-write.
TMP_GRACE_S = 60.0
QUARANTINE = "quarantine"


class DLQError(Exception):
    """A dead-letter queue operation failed; nothing was enqueued."""


class DLQFull(DLQError):
    """The queue is at a bound (DLQ_MAX_FILES / DLQ_MAX_DISK_MB) and may not grow."""


class CorruptEnvelope(DLQError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"corrupt DLQ envelope: {reason}")
        self.reason = reason


class EntryGone(DLQError):
    """The entry's file no longer exists (evicted, or handled by another call)."""


def encode(batch: WriteBatch) -> bytes:
    """The envelope of a batch; DLQError if a value cannot be serialised."""
    shared = rows.SharedJson()
    try:
        payload = orjson.dumps(
            {
                "spans": [rows.span_row(s, shared) for s in batch.spans],
                "logs": [rows.log_row(r, shared) for r in batch.logs],
                "points": [_finite_row(rows.point_row(p, shared)) for p in batch.points],
            }
        )
    except TypeError as exc:  # orjson.JSONEncodeError
        raise DLQError(f"batch cannot be encoded: {exc}") from exc
    body = zlib.compress(payload, _ZLIB_LEVEL)
    head = _HEADER.pack(MAGIC, VERSION, FLAG_ZLIB, len(body), len(payload))
    return head + hashlib.sha256(head + body).digest() + body


def decode(data: bytes) -> WriteBatch:
    """The batch of an envelope; CorruptEnvelope (never anything else) if it is not valid."""
    if len(data) < len(MAGIC):
        raise CorruptEnvelope("truncated" if MAGIC.startswith(data) else "bad magic")
    if data[: len(MAGIC)] != MAGIC:
        raise CorruptEnvelope("bad magic")
    if len(data) < HEADER_SIZE:
        raise CorruptEnvelope(f"truncated header ({len(data)} bytes)")
    head = data[: _HEADER.size]
    _, version, flags, body_len, raw_len = _HEADER.unpack(head)
    if version != VERSION:
        raise CorruptEnvelope(f"unknown version {version} (this build reads {VERSION})")
    body = data[HEADER_SIZE:]
    if len(body) != body_len:
        what = "truncated" if len(body) < body_len else "trailing bytes after"
        raise CorruptEnvelope(f"{what} payload ({len(body)} of {body_len} bytes)")
    if hashlib.sha256(head + body).digest() != data[_HEADER.size : HEADER_SIZE]:
        raise CorruptEnvelope("checksum mismatch")
    if flags & ~_KNOWN_FLAGS:
        raise CorruptEnvelope(f"unknown flags {flags:#04x}")
    payload = _inflate(body, raw_len) if flags & FLAG_ZLIB else body
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise CorruptEnvelope(f"bad JSON: {exc}") from None
    try:
        return WriteBatch(
            spans=[rows.span_of(r) for r in obj["spans"]],
            logs=[rows.log_of(r) for r in obj["logs"]],
            points=[rows.point_of(_nonfinite_row(r)) for r in obj["points"]],
        )
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError) as exc:
        raise CorruptEnvelope(f"bad shape: {type(exc).__name__}: {exc}") from None


def replay_key(data: bytes) -> str:
    """The key of an envelope (its SHA-256 digest in hex, 64 characters); only meaningful
    for data that ``decode`` accepts."""
    return data[_HEADER.size : HEADER_SIZE].hex()


def _inflate(body: bytes, raw_len: int) -> bytes:
    if raw_len == 0:  # zlib reads max_length=0 as "unbounded"
        raise CorruptEnvelope("empty payload")
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(body, raw_len)
    except (zlib.error, OverflowError) as exc:
        raise CorruptEnvelope(f"bad compression: {exc}") from None
    if len(raw) != raw_len or not inflater.eof or inflater.unconsumed_tail:
        raise CorruptEnvelope("bad compression: length mismatch")
    return raw


def _finite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # str(nan) == "nan", str(inf) == "inf": float() reads them back
    return tuple(
        str(v) if i in _POINT_NUMBERS and isinstance(v, float) and not math.isfinite(v) else v
        for i, v in enumerate(row)
    )


def _nonfinite_row(row: list[Any]) -> list[Any]:
    for i in _POINT_NUMBERS:
        if isinstance(row[i], str):
            row[i] = float(row[i])
    return row


@dataclass(frozen=True, slots=True)
class Entry:
    path: Path
    size: int
    attempts: int
    next_attempt_at: float  # unix seconds


@dataclass(frozen=True, slots=True)
class Evicted:
    files: int = 0
    bytes: int = 0


class DiskQueue:
    """Envelopes in ``root``, oldest first; given-up or corrupt ones in ``root/quarantine``.

    Resource handling: every write goes to a temp file, is fsynced, renamed to its final
    name and the directory fsynced, so a final name only ever holds a complete envelope
    and ``enqueue`` returning means the batch survives a crash (ack after it, not before).
    Nothing is deleted except by ``done`` (replayed) and ``evict_oldest`` (counted by the
    caller); quarantined files are kept for a human.

    Error handling: OSErrors become DLQError (the batch is not enqueued). ``done``,
    ``failed`` and ``quarantine`` on an entry whose file is gone do nothing.
    """

    def __init__(
        self,
        root: Path,
        *,
        max_files: int,
        max_bytes: int,
        policy: Literal["reject", "evict_oldest"],
    ) -> None:
        if policy not in ("reject", "evict_oldest"):
            raise ValueError(f"unknown DLQ policy {policy!r}")
        self.root = Path(root)
        self.quarantine_dir = self.root / QUARANTINE
        self.max_files, self.max_bytes, self.policy = max_files, max_bytes, policy
        self._lock = threading.Lock()
        self.root.mkdir(mode=0o750, parents=True, exist_ok=True)
        self.quarantine_dir.mkdir(mode=0o750, exist_ok=True)
        self.remove_stale_temp_files(time.time() - TMP_GRACE_S)
        existing = self.entries()
        self._stamp = max((_key(e.path)[0] for e in existing), default=0)

    def remove_stale_temp_files(self, older_than: float) -> int:
        """Delete temp files last modified before ``older_than`` (unix s); return how many.

        A temp file is what a crash mid-``enqueue`` leaves behind. Its batch was never
        acknowledged (the ack follows the fsync and the rename), so the client still has
        it and retries: removing the file loses nothing. Only old ones go, as a younger
        one may be another process's write in progress.
        """
        removed = 0
        for item in self.root.iterdir():
            if item.name.startswith(_TMP_PREFIX):
                try:
                    if item.stat().st_mtime < older_than:
                        item.unlink()
                        removed += 1
                except FileNotFoundError:
                    pass
        return removed

    def enqueue(self, batch: WriteBatch) -> Evicted:
        """Store ``batch`` durably. DLQFull under "reject" when a bound would be exceeded,
        or under either policy when the one envelope is larger than max_bytes."""
        data = encode(batch)
        if self.max_bytes and len(data) > self.max_bytes:
            raise DLQFull(
                f"batch of {len(data)} bytes is larger than the whole DLQ "
                f"({self.max_bytes} bytes): raise DLQ_MAX_DISK_MB or lower the batch size"
            )
        with self._lock:
            evicted = self._make_room(len(data))
            self._stamp = max(self._stamp + 1, time.time_ns())
            name = f"{self._stamp:020d}-{uuid.uuid4().hex[:16]}.a0.t0.dlq"
            tmp = self.root / f"{_TMP_PREFIX}{name}"
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.rename(tmp, self.root / name)
                _fsync_dir(self.root)
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise DLQError(f"cannot write to the DLQ at {self.root}: {exc}") from exc
            return evicted

    def _make_room(self, size: int) -> Evicted:
        queued = self.entries()
        files, total = len(queued), sum(e.size for e in queued)
        evicted = Evicted()
        while (self.max_files and files + 1 > self.max_files) or (
            self.max_bytes and total + size > self.max_bytes
        ):
            if self.policy == "reject" or not queued:
                raise DLQFull(
                    f"DLQ full ({files} files, {total} bytes; limits {self.max_files} files, "
                    f"{self.max_bytes} bytes): retry later"
                )
            oldest = queued.pop(0)
            try:
                oldest.path.unlink()
            except FileNotFoundError:
                pass  # replayed meanwhile: still frees its room
            except OSError as exc:
                raise DLQError(f"cannot evict {oldest.path.name}: {exc}") from exc
            else:
                evicted = Evicted(evicted.files + 1, evicted.bytes + oldest.size)
            files, total = files - 1, total - oldest.size
        if evicted.files:
            _fsync_dir(self.root)
        return evicted

    def entries(self) -> list[Entry]:
        """Queued envelopes, oldest first (temp and unknown files are not entries)."""
        found = []
        with os.scandir(self.root) as it:
            for item in it:
                m = _NAME.match(item.name)
                if m is None:
                    continue
                try:
                    size = item.stat().st_size
                except FileNotFoundError:
                    continue
                found.append(Entry(Path(item.path), size, int(m[3]), int(m[4]) / 1000))
        found.sort(key=lambda e: _key(e.path))
        return found

    def due(self, now: float, limit: int) -> list[Entry]:
        """Up to ``limit`` entries whose next attempt is at or before ``now``, oldest first."""
        return [e for e in self.entries() if e.next_attempt_at <= now][:limit]

    def read(self, entry: Entry) -> WriteBatch:
        """The entry's batch; CorruptEnvelope if unreadable, EntryGone if the file is gone."""
        return self.read_keyed(entry)[0]

    def read_keyed(self, entry: Entry) -> tuple[WriteBatch, str]:
        """The entry's batch and its ``replay_key``; raises as ``read``."""
        try:
            data = entry.path.read_bytes()
        except FileNotFoundError:
            raise EntryGone(f"{entry.path.name} is no longer queued") from None
        except OSError as exc:
            raise DLQError(f"cannot read {entry.path.name}: {exc}") from exc
        return decode(data), replay_key(data)

    def done(self, entry: Entry) -> None:
        """The batch is in the database: forget it (its retry state goes with the name)."""
        with self._lock, _translated(f"cannot delete {entry.path.name}"):
            entry.path.unlink(missing_ok=True)
            _fsync_dir(self.root)

    def failed(
        self,
        entry: Entry,
        now: float,
        *,
        base_delay: float,
        max_delay: float,
        max_retries: int,
        error: str = "",
    ) -> bool:
        """Record one more failed attempt; the next one is due after base_delay *
        2**(attempts before this one), at most max_delay. Return True when this attempt
        reached max_retries (0: unlimited) and the file went to quarantine instead."""
        attempts = entry.attempts + 1
        if max_retries and attempts >= max_retries:
            reason = f"gave up after {attempts} attempts" + (f": {error}" if error else "")
            self.quarantine(entry, reason)
            return True
        delay = min(max_delay, base_delay * 2.0 ** min(entry.attempts, 64))
        stamp, uid = _key(entry.path)
        name = f"{stamp:020d}-{uid}.a{attempts}.t{math.ceil((now + delay) * 1000)}.dlq"
        with self._lock, _translated(f"cannot record a retry of {entry.path.name}"):
            try:
                os.rename(entry.path, entry.path.with_name(name))
            except FileNotFoundError:
                return False
            _fsync_dir(self.root)
        return False

    def quarantine(self, entry: Entry, reason: str) -> None:
        """Move the file to ``root/quarantine`` with a ``.reason`` text beside it."""
        target = self.quarantine_dir / entry.path.name
        with self._lock, _translated(f"cannot quarantine {entry.path.name}"):
            if not entry.path.exists():
                return
            note = f"{reason}\nattempts: {entry.attempts}\nquarantined_at: {time.time():.3f}\n"
            note_path = target.with_name(target.name + ".reason")
            with open(note_path, "w", encoding="utf-8") as f:
                f.write(note)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.rename(entry.path, target)
            except FileNotFoundError:
                note_path.unlink(missing_ok=True)
                return
            _fsync_dir(self.quarantine_dir)
            _fsync_dir(self.root)

    def usage(self) -> tuple[int, int]:
        """Files and bytes queued (quarantine not counted)."""
        queued = self.entries()
        return len(queued), sum(e.size for e in queued)

    def fullness(self) -> float:
        """The larger of files/max_files and bytes/max_bytes; 0 for unlimited bounds."""
        files, size = self.usage()
        return max(
            files / self.max_files if self.max_files else 0.0,
            size / self.max_bytes if self.max_bytes else 0.0,
        )


def _key(path: Path) -> tuple[int, str]:
    m = _NAME.match(path.name)
    if m is None:
        raise ValueError(f"not a DLQ file name: {path.name}")
    return int(m[1]), m[2]


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise DLQError(f"{what}: {exc}") from exc


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
