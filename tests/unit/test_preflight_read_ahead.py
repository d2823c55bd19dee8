"""The read-ahead between the pre-flight workers and the loader's COPY: every chunk in order,
never more than its bound ahead, errors handed to the consumer, and a consumer that leaves
early stops the producer (which is what stops the workers)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from redfeed.warehouse.preflight import ReadAhead


class Source:
    """Chunks of 1 KiB, counting how many were taken and whether it was closed."""

    def __init__(self, chunks: int, fail_at: int | None = None) -> None:
        self.chunks, self.fail_at = chunks, fail_at
        self.taken = 0
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[bytes]:
        try:
            for n in range(self.chunks):
                if n == self.fail_at:
                    raise ValueError(f"chunk {n} is broken")
                self.taken += 1
                yield b"%d\n" % n + b"x" * 1020
        finally:
            self.closed.set()


def test_every_chunk_arrives_in_order() -> None:
    source = Source(100)
    with ReadAhead(iter(source), max_bytes=8 * 1024, chunk_bytes=1024) as chunks:
        got = [int(chunk.split(b"\n")[0]) for chunk in chunks]
    assert got == list(range(100))
    assert source.closed.is_set()


def test_it_reads_no_further_ahead_than_its_bound() -> None:
    source = Source(1000)
    with ReadAhead(iter(source), max_bytes=8 * 1024, chunk_bytes=1024) as chunks:
        next(chunks)
        time.sleep(0.25)  # give the producer every chance to run ahead
        # 8 queued, one consumed, one held by the producer waiting for room
        assert source.taken <= 8 + 2
    assert source.closed.wait(5), "leaving early closes the source"
    assert source.taken < 1000


def test_an_error_in_the_source_reaches_the_consumer() -> None:
    source = Source(100, fail_at=30)
    with (
        pytest.raises(ValueError, match="chunk 30 is broken"),
        ReadAhead(iter(source), max_bytes=4 * 1024, chunk_bytes=1024) as chunks,
    ):
        for _ in chunks:
            pass
    assert source.closed.is_set()


def consume_one_then_fail(source: Source) -> None:
    with ReadAhead(iter(source), max_bytes=4 * 1024, chunk_bytes=1024) as chunks:
        next(chunks)
        raise RuntimeError("COPY failed")


def test_a_consumer_error_stops_the_producer() -> None:
    source = Source(10_000)
    with pytest.raises(RuntimeError, match="COPY failed"):
        consume_one_then_fail(source)
    assert source.closed.wait(5)
    assert source.taken < 10_000
