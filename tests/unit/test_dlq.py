"""The disk dead-letter queue: envelopes round-trip exactly, corruption is always a
CorruptEnvelope, and the queue keeps its order, bounds and retry state on real files."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import resource
import signal
import struct
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otelctx import dlq
from otelctx.dlq import CorruptEnvelope, DiskQueue, DLQError, DLQFull, EntryGone, Evicted
from otelctx.model import (
    LogRecord,
    MetricPoint,
    MetricType,
    Scope,
    SpanEvent,
    SpanKind,
    SpanLink,
    SpanRecord,
    StatusCode,
)
from otelctx.storage.base import WriteBatch


def same(left: Any, right: Any) -> bool:
    """Equality that tells True from 1, 1 from 1.0, tuple from list, and NaN equals NaN."""
    if type(left) is not type(right):
        return False
    if dataclasses.is_dataclass(left):
        return all(
            same(getattr(left, f.name), getattr(right, f.name)) for f in dataclasses.fields(left)
        )
    if isinstance(left, float):
        return left == right or (math.isnan(left) and math.isnan(right))
    if isinstance(left, tuple | list):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    return bool(left == right)


# Nested JSON goes through storage.rows like a database row: finite floats only there.
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)  # orjson: no surrogates
finite = st.floats(allow_nan=False, allow_infinity=False)
scalar = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | finite | text
json_value = st.recursive(
    scalar, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
attrs = st.dictionaries(text, json_value, max_size=5)
scopes = st.builds(Scope, name=text, version=text, attributes=attrs)
u64 = st.integers(0, 2**64 - 1)
hex_id = st.binary(min_size=8, max_size=16).map(bytes.hex)
number = st.none() | st.floats()  # NaN and infinities too: a point's own columns keep them

spans = st.builds(
    SpanRecord, tenant_id=text, trace_id=hex_id, span_id=hex_id,
    parent_span_id=hex_id | st.just(""), service_name=text, name=text,
    kind=st.sampled_from(SpanKind), start_time_unix_nano=u64, end_time_unix_nano=u64,
    status_code=st.sampled_from(StatusCode), status_message=text, trace_state=text,
    attributes=attrs, resource=attrs, scope=scopes,
    events=st.lists(st.builds(SpanEvent, u64, text, attrs), max_size=3).map(tuple),
    links=st.lists(st.builds(SpanLink, hex_id, hex_id, text, attrs), max_size=3).map(tuple),
)  # fmt: skip
logs = st.builds(
    LogRecord, tenant_id=text, service_name=text, time_unix_nano=u64,
    observed_time_unix_nano=u64, severity_number=st.integers(0, 24), severity_text=text,
    body=text | json_value, attributes=attrs, resource=attrs, scope=scopes, trace_id=hex_id,
    span_id=hex_id, flags=st.integers(0, 2**32 - 1),
)  # fmt: skip
points = st.builds(
    MetricPoint, tenant_id=text, service_name=text, name=text, description=text, unit=text,
    metric_type=st.sampled_from(MetricType), time_unix_nano=u64, start_time_unix_nano=u64,
    attributes=attrs, resource=attrs, scope=scopes, value=number,
    count=st.none() | st.integers(0, 2**63 - 1), sum=number, min=number, max=number,
    data=st.dictionaries(text, json_value, max_size=4), aggregation_temporality=st.integers(0, 2),
    is_monotonic=st.booleans(),
)  # fmt: skip
batches = st.builds(
    WriteBatch, spans=st.lists(spans, max_size=3), logs=st.lists(logs, max_size=3),
    points=st.lists(points, max_size=3),
)  # fmt: skip


def small_batch(tag: str = "x", size: int = 0) -> WriteBatch:
    body = tag + os.urandom(size // 2).hex() if size else tag
    log = LogRecord(
        "t1", "svc", 1, 2, 9, "INFO", body, {"k": 1}, {"service.name": "svc"}, Scope(), "", "", 0
    )
    return WriteBatch(logs=[log])


def envelope(payload: bytes, *, version: int = dlq.VERSION, flags: int = dlq.FLAG_ZLIB) -> bytes:
    """A well-formed envelope around any payload (valid checksum), to reach the later checks."""
    body = zlib.compress(payload) if flags & dlq.FLAG_ZLIB else payload
    head = struct.pack(">8sBBQQ", dlq.MAGIC, version, flags, len(body), len(payload))
    return head + hashlib.sha256(head + body).digest() + body


def queue(root: Path, **kwargs: Any) -> DiskQueue:
    kwargs = {"max_files": 0, "max_bytes": 0, "policy": "reject", **kwargs}
    return DiskQueue(root, **kwargs)


# --- envelope --------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches)
def test_round_trip_is_exact(batch: WriteBatch) -> None:
    assert same(dlq.decode(dlq.encode(batch)), batch)


def test_round_trip_of_an_empty_batch() -> None:
    assert same(dlq.decode(dlq.encode(WriteBatch())), WriteBatch())


@settings(max_examples=200, deadline=None)
@given(batches, st.data())
def test_any_flipped_byte_is_corrupt(batch: WriteBatch, data: st.DataObject) -> None:
    raw = bytearray(dlq.encode(batch))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    with pytest.raises(CorruptEnvelope):
        dlq.decode(bytes(raw))


@settings(max_examples=200, deadline=None)
@given(batches, st.data())
def test_any_truncation_is_corrupt(batch: WriteBatch, data: st.DataObject) -> None:
    raw = dlq.encode(batch)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(CorruptEnvelope, match=r"truncated|bad magic"):
        dlq.decode(raw[:cut])


@settings(max_examples=300)
@given(st.binary(max_size=200) | st.binary(max_size=200).map(lambda b: dlq.MAGIC + b))
def test_arbitrary_bytes_are_corrupt(raw: bytes) -> None:
    with pytest.raises(CorruptEnvelope):
        dlq.decode(raw)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"PK\x03\x04" + dlq.encode(small_batch())[4:], "bad magic"),
        (envelope(b'{"spans":[],"logs":[],"points":[]}', version=2), "unknown version 2"),
        (dlq.encode(small_batch()) + b"\0", "trailing bytes"),
        (envelope(b"x" * 10, flags=0x80), "unknown flags"),
        (envelope(b"{not json", flags=0), "bad JSON"),
        (envelope(b"[1, 2]"), "bad shape"),
        (envelope(b'{"spans":[]}'), "bad shape"),
        (envelope(b'{"spans":[[1,2]],"logs":[],"points":[]}'), "bad shape"),
        (envelope(b'{"spans":[],"logs":[],"points":[' + b"[0]," * 3 + b"[0]]}"), "bad shape"),
        (envelope(b'{"spans":[],"logs":[{"a":1}],"points":[]}'), "bad shape"),
    ],
)
def test_corruption_kinds_have_reasons(raw: bytes, reason: str) -> None:
    with pytest.raises(CorruptEnvelope, match=reason) as caught:
        dlq.decode(raw)
    assert reason in caught.value.reason


def test_bad_compression_with_a_valid_checksum_is_corrupt() -> None:
    payload = b'{"spans":[],"logs":[],"points":[]}'
    head = struct.pack(">8sBBQQ", dlq.MAGIC, dlq.VERSION, dlq.FLAG_ZLIB, 9, len(payload))
    raw = head + hashlib.sha256(head + b"not zlib!").digest() + b"not zlib!"
    with pytest.raises(CorruptEnvelope, match="bad compression"):
        dlq.decode(raw)
    # a raw length that does not match what the stream inflates to
    good = envelope(payload)
    head = struct.pack(">8sBBQQ", dlq.MAGIC, dlq.VERSION, dlq.FLAG_ZLIB, len(good) - 58, 5)
    body = good[58:]
    with pytest.raises(CorruptEnvelope, match="bad compression"):
        dlq.decode(head + hashlib.sha256(head + body).digest() + body)


def test_unencodable_batch_is_a_dlq_error_and_writes_nothing(tmp_path: Path) -> None:
    q = queue(tmp_path)
    bad = small_batch()
    bad.logs[0].attributes["huge"] = 2**70  # beyond 64 bits: no JSON integer for it
    with pytest.raises(DLQError, match="cannot be encoded"):
        q.enqueue(bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["quarantine"]


# --- queue -----------------------------------------------------------------------------


def test_fifo_order_across_restarts(tmp_path: Path) -> None:
    first = queue(tmp_path)
    for i in range(5):
        first.enqueue(small_batch(f"a{i}"))
    second = queue(tmp_path)  # a restart, and an overlapping second process
    for i in range(5):
        second.enqueue(small_batch(f"b{i}"))
        first.enqueue(small_batch(f"c{i}"))
    bodies = [second.read(e).logs[0].body for e in second.entries()]
    assert bodies[:5] == [f"a{i}" for i in range(5)]
    assert len(set(bodies)) == 15
    assert [b for b in bodies if b[0] == "b"] == [f"b{i}" for i in range(5)]
    assert [b for b in bodies if b[0] == "c"] == [f"c{i}" for i in range(5)]


def test_order_survives_a_clock_that_steps_back(tmp_path: Path) -> None:
    future = f"{(time.time_ns() + 10**12):020d}-{'0' * 16}.a0.t0.dlq"
    (tmp_path / future).write_bytes(dlq.encode(small_batch("future")))
    restarted = queue(tmp_path)
    restarted.enqueue(small_batch("now"))
    q_bodies = [restarted.read(e).logs[0].body for e in restarted.entries()]
    assert q_bodies == ["future", "now"]


def test_reject_policy_raises_and_leaves_files_untouched(tmp_path: Path) -> None:
    q = queue(tmp_path, max_files=3, policy="reject")
    for i in range(3):
        q.enqueue(small_batch(f"a{i}"))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(DLQFull, match="retry later"):
        q.enqueue(small_batch("a3"))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    assert q.usage() == (3, sum(map(len, before.values())))
    assert q.fullness() == 1.0

    files, size = q.usage()
    by_bytes = queue(tmp_path, max_bytes=size + 10, policy="reject")  # a restart, new bounds
    with pytest.raises(DLQFull):
        by_bytes.enqueue(small_batch("a3"))
    assert by_bytes.usage() == (files, size)


def test_evict_oldest_evicts_fifo_with_exact_counts(tmp_path: Path) -> None:
    q = queue(tmp_path, max_files=3, policy="evict_oldest")
    sizes = []
    for i in range(3):
        q.enqueue(small_batch(f"a{i}", size=100 * (i + 1)))
        sizes.append(q.entries()[-1].size)
    assert q.enqueue(small_batch("b0")) == Evicted(1, sizes[0])
    assert [q.read(e).logs[0].body[:2] for e in q.entries()] == ["a1", "a2", "b0"]

    # a byte bound can take several files at once
    total = sum(e.size for e in q.entries())
    # a batch that needs more room than a1 frees, but no more than a1 and a2 do
    big = next(
        b for n in range(100, 2000, 20)
        if sizes[1] < len(dlq.encode(b := small_batch("big", size=n))) <= sizes[1] + sizes[2]
    )  # fmt: skip
    by_bytes = queue(tmp_path, max_bytes=total, policy="evict_oldest")
    evicted = by_bytes.enqueue(big)
    assert evicted == Evicted(2, sizes[1] + sizes[2])
    assert [by_bytes.read(e).logs[0].body[:3] for e in by_bytes.entries()] == ["b0", "big"]


@pytest.mark.parametrize("policy", ["reject", "evict_oldest"])
def test_an_envelope_larger_than_the_whole_queue_is_refused(tmp_path: Path, policy: str) -> None:
    q = queue(tmp_path, max_bytes=500, policy=policy)
    q.enqueue(small_batch("kept"))
    with pytest.raises(DLQFull, match="larger than the whole DLQ"):
        q.enqueue(small_batch("x", size=4000))
    assert [q.read(e).logs[0].body for e in q.entries()] == ["kept"]


def test_unlimited_bounds(tmp_path: Path) -> None:
    q = queue(tmp_path)
    for i in range(20):
        q.enqueue(small_batch(str(i)))
    assert q.usage()[0] == 20
    assert q.fullness() == 0.0


def test_backoff_doubles_up_to_the_cap_and_survives_restart(tmp_path: Path) -> None:
    q = queue(tmp_path)
    q.enqueue(small_batch())
    now = 1_000_000.0
    delays = []
    for _ in range(6):
        (entry,) = q.entries()
        assert not q.failed(entry, now, base_delay=1.0, max_delay=10.0, max_retries=0)
        (entry,) = queue(tmp_path).entries()  # state read back by a fresh instance
        delays.append(entry.next_attempt_at - now)
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert entry.attempts == 6
    assert q.due(now + 9.9, limit=10) == []
    assert q.due(now + 10.0, limit=10) == [entry]
    assert same(q.read(entry), small_batch())


def test_due_is_oldest_first_and_limited(tmp_path: Path) -> None:
    q = queue(tmp_path)
    for i in range(5):
        q.enqueue(small_batch(str(i)))
    entries = q.entries()
    q.failed(entries[0], time.time(), base_delay=3600, max_delay=3600, max_retries=0)
    due = q.due(time.time(), limit=3)
    assert [q.read(e).logs[0].body for e in due] == ["1", "2", "3"]
    q.done(due[0])
    assert [q.read(e).logs[0].body for e in q.due(time.time(), limit=10)] == ["2", "3", "4"]
    assert q.usage()[0] == 4


def test_quarantine_after_max_retries_keeps_the_file_and_reason(tmp_path: Path) -> None:
    q = queue(tmp_path)
    q.enqueue(small_batch("poison"))
    for attempt in range(1, 4):
        (entry,) = q.entries()
        moved = q.failed(
            entry, 0.0, base_delay=0, max_delay=0, max_retries=3, error="integrity error"
        )
        assert moved == (attempt == 3)
    assert q.entries() == []
    assert q.usage() == (0, 0)
    (kept,) = (tmp_path / "quarantine").glob("*.dlq")
    assert same(dlq.decode(kept.read_bytes()), small_batch("poison"))
    reason = (tmp_path / "quarantine" / (kept.name + ".reason")).read_text()
    assert "gave up after 3 attempts: integrity error" in reason


def test_a_corrupt_file_is_reported_and_quarantined_not_fatal(tmp_path: Path) -> None:
    q = queue(tmp_path)
    q.enqueue(small_batch("good"))
    q.enqueue(small_batch("bad"))
    bad = q.entries()[1]
    raw = bytearray(bad.path.read_bytes())
    raw[-3] ^= 0xFF
    bad.path.write_bytes(bytes(raw))
    with pytest.raises(CorruptEnvelope, match="checksum mismatch") as caught:
        q.read(bad)
    q.quarantine(bad, caught.value.reason)
    assert [q.read(e).logs[0].body for e in q.entries()] == ["good"]
    assert (tmp_path / "quarantine" / bad.path.name).read_bytes() == bytes(raw)
    reason = (tmp_path / "quarantine" / f"{bad.path.name}.reason").read_text()
    assert reason.startswith("checksum mismatch")


def test_an_entry_evicted_meanwhile_is_gone_not_an_oserror(tmp_path: Path) -> None:
    q = queue(tmp_path, max_files=1, policy="evict_oldest")
    q.enqueue(small_batch("old"))
    (old,) = q.entries()
    assert q.enqueue(small_batch("new")).files == 1
    with pytest.raises(EntryGone):
        q.read(old)
    assert not q.failed(old, 0.0, base_delay=1, max_delay=1, max_retries=0)
    q.quarantine(old, "gone")
    q.done(old)
    assert [q.read(e).logs[0].body for e in q.entries()] == ["new"]
    assert list((tmp_path / "quarantine").iterdir()) == []


def test_leftover_temp_files_are_removed_at_start(tmp_path: Path) -> None:
    q = queue(tmp_path)
    q.enqueue(small_batch("acked"))
    crashed = tmp_path / ".tmp-00000000000000000001-0123456789abcdef.a0.t0.dlq"
    crashed.write_bytes(dlq.encode(small_batch())[:20])
    old = time.time() - 2 * dlq.TMP_GRACE_S
    os.utime(crashed, (old, old))
    in_progress = tmp_path / ".tmp-99999999999999999999-0123456789abcdef.a0.t0.dlq"
    in_progress.write_bytes(b"another process is writing")
    assert [e.size for e in q.entries()] == [q.entries()[0].size]  # temp files are no entries

    restarted = queue(tmp_path)
    assert not crashed.exists()
    assert in_progress.exists()  # young: may belong to a live process
    assert [restarted.read(e).logs[0].body for e in restarted.entries()] == ["acked"]


def test_directories_are_created_private(tmp_path: Path) -> None:
    root = tmp_path / "a" / "dlq"
    queue(root)
    assert (root / "quarantine").is_dir()
    old_umask = os.umask(0)
    try:
        queue(tmp_path / "b")
    finally:
        os.umask(old_umask)
    assert (tmp_path / "b").stat().st_mode & 0o777 == 0o750
    assert (tmp_path / "b" / "quarantine").stat().st_mode & 0o777 == 0o750


def test_a_failed_write_leaves_no_file_behind(tmp_path: Path) -> None:
    """A disk that fills up mid-write (EFBIG here, via RLIMIT_FSIZE) must leave neither a
    final file (it would be replayed half-written) nor a temp file."""
    q = queue(tmp_path)
    q.enqueue(small_batch("before"))
    big = small_batch("big", size=200_000)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (8192, hard))
    try:
        with pytest.raises(DLQError, match="cannot write"):
            q.enqueue(big)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    names = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert names == [e.path.name for e in q.entries()]
    assert [q.read(e).logs[0].body for e in q.entries()] == ["before"]
    q.enqueue(big)  # and the queue still works afterwards
    assert len(q.entries()) == 2


def test_a_concurrent_reader_never_sees_a_partial_envelope(tmp_path: Path) -> None:
    q = queue(tmp_path)
    stop = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def reader() -> None:
        observer = queue(tmp_path)
        while not stop.is_set():
            for entry in observer.entries():
                try:
                    observer.read(entry)
                    seen.append(entry.size)
                except BaseException as exc:
                    errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(30):
            q.enqueue(small_batch(str(i), size=50_000))
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert seen
    assert orjson.dumps(len(q.entries())) == b"30"
