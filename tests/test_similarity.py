"""Tests of the atom-similarity measurements along trees and maps."""

import numpy as np
import pytest

from sparse_jax import similarity


def test_tree_cosines_classes():
    # Tree 0 → {1, 2}, 1 → {3}; atoms 0, 1 and 3 share one direction, atom 2 is orthogonal.
    parents = np.array([-1, 0, 0, 1])
    dictionary = np.zeros((3, 4))
    dictionary[0, [0, 1, 3]] = 1
    dictionary[1, 2] = 1
    measures = similarity.tree_cosines(dictionary, parents)
    assert measures["parent_child_pairs"] == 3  # (0, 1), (0, 2), (1, 3)
    assert measures["along_branch_pairs"] == 4  # and (0, 3)
    assert measures["siblings_pairs"] == 1  # (1, 2)
    assert measures["unrelated_pairs"] == 2  # (1, 2), (2, 3)
    assert measures["all_pairs_pairs"] == 6
    assert measures["different_branches_pairs"] == 2
    assert measures["different_trees_pairs"] == 0
    assert measures["parent_child_mean_abs_cosine"] == pytest.approx(2 / 3)
    assert measures["along_branch_mean_abs_cosine"] == pytest.approx(3 / 4)
    assert measures["unrelated_mean_abs_cosine"] == 0
    assert measures["all_pairs_mean_abs_cosine"] == pytest.approx(3 / 6)
    assert measures["parent_child_by_child_level"] == {"1": 0.5, "2": 1.0}


def test_tree_cosines_rejects_mismatched_parents():
    with pytest.raises(ValueError, match="one parent per atom"):
        similarity.tree_cosines(np.ones((3, 4)), np.array([-1, 0, 0]))


def test_map_cosines_checks_and_empty_classes():
    atoms = np.eye(4)
    distances = 0.5 * (1 - np.eye(4))  # every pair at distance 0.5, none at 1
    measures = similarity.map_cosines(atoms, distances, 1.0)
    assert np.isnan(measures["nearest_neighbours_mean_abs_cosine"])
    assert measures["within_radius_mean_abs_cosine"] == 0.0
    with pytest.raises(ValueError, match=r"distances has shape \(3, 3\); expected \(4, 4\)"):
        similarity.map_cosines(atoms, np.zeros((3, 3)), 1.0)
    with pytest.raises(ValueError, match="radius must be positive"):
        similarity.map_cosines(atoms, distances, 0.0)
    with pytest.raises(ValueError, match="dictionary must be a"):
        similarity.tree_cosines(np.ones(4), np.array([-1, 0, 0, 0]))
