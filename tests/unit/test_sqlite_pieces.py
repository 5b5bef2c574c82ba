"""How the SQLite writer cuts a batch into multi-row INSERTs: every row once, in order,
in sizes from a set small enough that the writer connection keeps them all prepared
(parsing a new 500-row statement every commit cost a fifth of the writer's CPU)."""

from __future__ import annotations

from otelctx.storage.sqlite import _CHUNK, _STEP, _WRITER_STATEMENTS, _pieces


def test_pieces_keep_every_item_once_in_order() -> None:
    for n in range(0, 3 * _CHUNK + 2 * _STEP + 3):
        items = list(range(n))
        pieces = list(_pieces(items))
        assert [x for piece in pieces for x in piece] == items
        assert all(piece for piece in pieces)


def test_below_a_full_chunk_there_are_at_most_two_pieces() -> None:
    for n in range(1, 4 * _CHUNK):
        sizes = [len(piece) for piece in _pieces(list(range(n)))]
        assert sizes[: n // _CHUNK] == [_CHUNK] * (n // _CHUNK)
        rest = sizes[n // _CHUNK :]
        assert len(rest) <= 2
        if len(rest) == 2:
            assert rest[0] % _STEP == 0 and rest[1] < _STEP


def test_every_batch_size_uses_statements_the_writer_keeps() -> None:
    sizes = {len(piece) for n in range(1, 5 * _CHUNK) for piece in _pieces(list(range(n)))}
    assert max(sizes) == _CHUNK
    # four tables (spans, traces, logs, metric_points) share the writer's cache
    assert 4 * len(sizes) <= _WRITER_STATEMENTS
