"""The one batching helper: fixed-size lists from sequences and generators alike, read lazily."""
from __future__ import annotations

import pytest

from engine.batches import batches


def test_batches_split_a_sequence_with_a_shorter_last_batch():
    assert list(batches(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batches([], 3)) == []


def test_batches_read_a_generator_only_as_far_as_the_batch_asked_for():
    read = []

    def numbers():
        for n in range(10):
            read.append(n)
            yield n

    first = next(batches(numbers(), 4))
    assert first == [0, 1, 2, 3] and read == [0, 1, 2, 3]


def test_a_batch_size_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        list(batches([1, 2], 0))
