"""Reciprocal rank fusion and min-max score fusion on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from policy_nlp.search.fusion import rrf, weighted_minmax


def test_rrf_sums_reciprocal_ranks():
    fused = rrf([[1, 2, 3], [3, 1, 4]])
    assert [doc for doc, _ in fused] == [1, 3, 2, 4]
    assert [score for _, score in fused] == pytest.approx([1 / 61 + 1 / 62, 1 / 63 + 1 / 61, 1 / 62, 1 / 63])


def test_rrf_weights_and_k():
    assert [doc for doc, _ in rrf([[1, 2, 3], [3, 1, 4]], weights=[1, 3])] == [3, 1, 4, 2]
    assert rrf([[1, 2]], k=0) == [(1, 1.0), (2, 0.5)]


def test_rrf_ties_repeats_and_numpy_ids():
    assert rrf([[5], [2]]) == [(2, 1 / 61), (5, 1 / 61)]  # same score and best rank: smaller id first
    assert rrf([[1, 1, 2]]) == [(1, 1 / 61), (2, 1 / 62)]  # a repeated id counts once, at its first rank
    assert rrf([np.array([9, 8], dtype=np.int64)]) == [(9, 1 / 61), (8, 1 / 62)]
    assert rrf([]) == []
    with pytest.raises(ValueError, match="2 weights for 1"):
        rrf([[1]], weights=[1, 2])


def test_weighted_minmax():
    runs = [([1, 2, 3], [0.9, 0.5, 0.1]), ([3, 4], [10.0, 2.0])]
    assert weighted_minmax(runs) == [(1, 1.0), (3, 1.0), (2, 0.5), (4, 0.0)]
    assert weighted_minmax(runs, weights=[1, 2]) == [(3, 2.0), (1, 1.0), (2, 0.5), (4, 0.0)]
    assert weighted_minmax([([7, 8], [0.3, 0.3]), ([], [])]) == [(7, 1.0), (8, 1.0)]
    with pytest.raises(ValueError, match="2 ids but 1 scores"):
        weighted_minmax([([1, 2], [0.5])])
