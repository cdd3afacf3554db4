"""One item's nearest neighbours in the other modality agree with the alignment metrics' retrieval."""

from __future__ import annotations

import numpy as np
import pytest

from mambarec.analysis import alignment_metrics
from mambarec.neighbours import cross_modal_neighbours


def test_own_ranks_reproduce_the_retrieval_recall():
    rng = np.random.default_rng(0)
    visual = rng.normal(size=(60, 8))
    text = visual + rng.normal(scale=1.5, size=(60, 8))
    ranks = np.array([cross_modal_neighbours(visual, text, i).own_rank for i in range(60)])
    found = alignment_metrics(visual, text)
    assert np.mean(ranks <= 1) == pytest.approx(found["recall@1"])
    assert np.mean(ranks <= 10) == pytest.approx(found["recall@10"])


def test_neighbours_are_sorted_and_a_matched_pair_ranks_first():
    rng = np.random.default_rng(1)
    visual = rng.normal(size=(30, 6))
    res = cross_modal_neighbours(visual, 2.0 * visual, 4, k=5)  # same directions: its own text is nearest
    assert res.own_rank == 1 and res.items[0] == 4 and res.own_cosine == pytest.approx(1.0)
    assert list(res.cosines) == sorted(res.cosines, reverse=True) and len(res.items) == 5
    back = cross_modal_neighbours(visual, 2.0 * visual, 4, k=3, query="text")
    assert back.items[0] == 4 and len(back.items) == 3


def test_bad_inputs_say_what_is_wrong():
    with pytest.raises(ValueError, match="one shape"):
        cross_modal_neighbours(np.zeros((5, 3)), np.zeros((5, 4)), 0)
    with pytest.raises(ValueError, match="outside"):
        cross_modal_neighbours(np.zeros((5, 3)), np.zeros((5, 3)), 5)


def test_a_rank_among_tied_cosines_says_it_is_tied():
    visual = np.eye(4)[[0, 1, 2, 3]] + 0.0
    text = np.tile(np.array([[1.0, 1.0, 1.0, 1.0]]), (4, 1))  # every text the same: an untrained text path
    res = cross_modal_neighbours(visual, text, 2)
    assert res.tied == 3 and res.own_rank == 3  # its rank is only the id order among the tied texts
    assert cross_modal_neighbours(np.eye(4), np.eye(4), 1).tied == 0
