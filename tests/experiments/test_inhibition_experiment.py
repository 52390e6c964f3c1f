"""End-to-end tests of the lateral inhibition experiment on its tiny configuration."""

import json

import numpy as np
import pytest

from experiments.inhibition_patches import train
from experiments.inhibition_patches.configs import tiny
from sparse_jax import similarity


def test_tree_experiment_end_to_end(tmp_path):
    config = tiny.get_config()
    config.prune.fraction_of_mean_usage = 0.9  # removes at least the least used unit
    results = train.train_and_evaluate(config, tmp_path)

    assert json.loads((tmp_path / "config.json").read_text())["structure"] == "tree"
    for name in ("tree_atoms.png", "tree_pruned.png", "training_curves.png"):
        assert (tmp_path / "figures" / name).stat().st_size > 0, name
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["num_units"] == 14
    assert written["data_source"] == "sample"

    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train_steps = [record["step"] for record in records if record["split"] == "train"]
    assert train_steps == [1, 4, 8, 12]
    assert [record["split"] for record in records].count("eval") == 1

    learned = results["inhibition"]
    assert learned["max_row_sum"] <= config.train.max_row_sum
    assert learned["max_abs_outside_mask"] == 0.0
    assert learned["max_asymmetry"] == 0.0

    tree = results["tree"]
    assert (
        tree["along_branch_pairs"]
        + tree["different_branches_pairs"]
        + tree["different_trees_pairs"]
        == 14 * 13 // 2
    )
    assert 0 <= tree["along_branch_mean_abs_cosine"] <= 1

    pruning = results["pruning"]
    usage = np.asarray(pruning["usage_ema"])
    assert usage.shape == (14,)
    assert pruning["units_after"] + len(pruning["removed_units"]) == 14
    assert pruning["threshold"] == pytest.approx(0.9 * usage.mean())
    # Every unit whose own usage is below the threshold is removed, with its subtree.
    below = set(np.flatnonzero(usage < pruning["threshold"]).tolist())
    assert below
    assert below <= set(pruning["removed_units"])
    assert [point["fraction_of_mean_usage"] for point in pruning["curve"]] == [1.0]
    # A higher threshold removes at least the same units.
    assert pruning["curve"][0]["units_after"] <= pruning["units_after"]
    pruned = np.load(tmp_path / "pruned_params.npz")
    params = np.load(tmp_path / "params.npz")
    np.testing.assert_array_equal(pruned["dictionary"], params["dictionary"][:, pruned["kept"]])


def _random_atoms(d, k, seed=0):
    atoms = np.random.default_rng(seed).standard_normal((d, k))
    return atoms / np.linalg.norm(atoms, axis=0)


def test_tree_cosines_on_identical_branches():
    # Two trees 0 → {1, 2} and 3 → {4, 5}; each tree's atoms are one shared
    # direction plus a small part of their own, so all pairs in a tree align.
    parents = np.array([-1, 0, 0, -1, 3, 3])
    base = _random_atoms(20, 2, seed=1)
    noise = 0.05 * _random_atoms(20, 6, seed=2)
    dictionary = np.concatenate([base[:, [0]].repeat(3, 1), base[:, [1]].repeat(3, 1)], axis=1)
    dictionary = dictionary + noise
    measures = similarity.tree_cosines(dictionary, parents)
    assert measures["parent_child_pairs"] == 4
    assert measures["along_branch_pairs"] == 4
    assert measures["different_branches_pairs"] == 2  # the sibling pairs (1, 2) and (4, 5)
    assert measures["different_trees_pairs"] == 9
    assert measures["along_branch_mean_abs_cosine"] > 0.99
    cosines = similarity.absolute_cosines(dictionary)
    np.testing.assert_allclose(
        measures["different_trees_mean_abs_cosine"], cosines[:3, 3:].mean(), rtol=1e-12
    )


def test_map_cosines_match_brute_force():
    dictionary = _random_atoms(10, 16)
    distances = train.inhibition.torus_distances(4)
    measures = similarity.map_cosines(dictionary, distances, 1.5)
    cosines = similarity.absolute_cosines(dictionary)
    rows, columns = np.triu_indices(16, k=1)
    neighbours = np.isclose(distances[rows, columns], 1)
    np.testing.assert_allclose(
        measures["nearest_neighbours_mean_abs_cosine"],
        cosines[rows, columns][neighbours].mean(),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        measures["all_pairs_mean_abs_cosine"], cosines[rows, columns].mean(), rtol=1e-12
    )
    assert set(measures["mean_abs_cosine_by_distance"]) == {
        "1.000",
        "1.414",
        "2.000",
        "2.236",
        "2.828",
    }


def test_inhibition_correlation_of_matching_matrix(tmp_path):
    dictionary = _random_atoms(10, 8)
    mask = train.inhibition.unstructured_mask(8)
    learned = np.where(mask, similarity.absolute_cosines(dictionary), 0)
    measures = train.inhibition_cosine_correlation(dictionary, learned, mask, num_top=3)
    assert measures["pairs"] == 28
    assert measures["pearson"] == pytest.approx(1.0)
    assert measures["spearman"] == pytest.approx(1.0)
    strengths = [pair["inhibition"] for pair in measures["top_pairs"]]
    assert strengths == sorted(strengths, reverse=True)
    assert strengths[0] == pytest.approx(learned.max())
    train._plot_pairs(dictionary, learned, mask, measures, (2, 5), tmp_path)
    assert (tmp_path / "top_pairs.png").stat().st_size > 0
    assert (tmp_path / "inhibition_vs_cosine.png").stat().st_size > 0


def test_spearman_ranks_share_ties():
    ranks = train._ranks(np.array([3.0, 1.0, 3.0, 2.0]))
    np.testing.assert_array_equal(ranks, [3.5, 1.0, 3.5, 2.0])


def test_unknown_structure_is_rejected(tmp_path):
    config = tiny.get_config()
    config.structure = "ring"
    with pytest.raises(ValueError, match=r"config\.structure must be one of"):
        train.train_and_evaluate(config, tmp_path)


def test_rerun_resumes_from_the_checkpoint(tmp_path):
    config = tiny.get_config()
    config.train.num_steps = 6
    train.train_and_evaluate(config, tmp_path)
    first = np.load(tmp_path / "params.npz")["dictionary"]
    config.train.num_steps = 12
    train.train_and_evaluate(config, tmp_path)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train_steps = [record["step"] for record in records if record["split"] == "train"]
    # The second run starts after step 6 and keeps the records of the first.
    assert train_steps == [1, 4, 6, 8, 12]
    assert not np.array_equal(np.load(tmp_path / "params.npz")["dictionary"], first)
