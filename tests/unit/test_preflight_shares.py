"""How pre-flight workers split a batch: every non-blank line goes to exactly one worker, whole
archive objects stay with one worker where that keeps the shares even, and an object that would
unbalance them is split line by line."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest

from redfeed.warehouse.preflight import Part, Preflight, SourceLine, share_parts


def part(name: str, records: int | None, known: bool = True) -> Part:
    def lines() -> Iterator[SourceLine]:
        for number in range(1, (records or 0) + 1):
            yield name, number, b'{"n": %d}' % number
            if number % 7 == 0:
                yield name, number, b"  "  # blank lines are nobody's

    return Part(lines, records if known else None)


def shares(parts: list[Part], workers: int) -> list[list[SourceLine]]:
    preflight = Preflight(None, [], None, parts=parts)  # type: ignore[arg-type]
    return [
        [line for line in preflight._share(index, workers) if line[2].strip()]
        for index in range(workers)
    ]


@pytest.mark.parametrize(
    ("sizes", "workers", "owned", "shared"),
    [
        # The 1M-record benchmark batch: two full parts and a short one.
        ([426, 426, 148], 2, [[0], [1]], [2]),
        ([250, 250, 250, 250], 2, [[0, 2], [1, 3]], []),
        ([900, 50, 50], 2, [[1], [2]], [0]),
        ([100], 2, [[], []], [0]),
        ([5, 7, 9], 1, [[0, 1, 2]], []),
        ([300, 300, 300, 300], 4, [[0], [1], [2], [3]], []),
    ],
)
def test_whole_parts_while_the_shares_stay_even(
    sizes: list[int], workers: int, owned: list[list[int]], shared: list[int]
) -> None:
    assert share_parts([part(str(i), n) for i, n in enumerate(sizes)], workers) == (owned, shared)


@pytest.mark.parametrize(
    "sizes", [[426, 426, 148], [900, 50, 50], [1, 2, 3, 4, 5], [0, 10], [33], [8, 8, 8, 8]]
)
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_every_line_goes_to_exactly_one_worker_and_loads_are_even(
    sizes: list[int], workers: int
) -> None:
    parts = [part(f"p{i}", n) for i, n in enumerate(sizes)]
    per_worker = shares(parts, workers)
    taken = Counter((origin, number) for lines in per_worker for origin, number, _ in lines)
    expected = {(f"p{i}", number) for i, n in enumerate(sizes) for number in range(1, n + 1)}
    assert set(taken) == expected
    assert set(taken.values()) <= {1}
    # Uneven by at most one line of a shared part or one whole part a worker owns.
    owned, _ = share_parts(parts, workers)
    loads = [len(lines) for lines in per_worker]
    assert max(loads) - min(loads) <= max([1] + [sizes[i] for mine in owned for i in mine])


def test_the_benchmark_batch_splits_evenly() -> None:
    loads = [len(lines) for lines in shares([part("a", 426), part("b", 426), part("c", 148)], 2)]
    assert loads == [500, 500]


def test_parts_of_unknown_size_are_shared() -> None:
    parts = [part("stdin", 11, known=False)]
    assert share_parts(parts, 2) == ([[], []], [0])
    assert [len(lines) for lines in shares(parts, 2)] == [6, 5]
