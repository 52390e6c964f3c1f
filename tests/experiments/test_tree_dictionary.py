"""End-to-end test of the tree-structured dictionary experiment on its tiny configuration."""

import json

import numpy as np
import pytest

from experiments.tree_dictionary import train
from experiments.tree_dictionary.configs import tiny
from sparse_jax.training import read_metrics


def test_tree_dictionary_tiny_writes_outputs(tmp_path):
    config = tiny.get_config()

    results = train.train_and_evaluate(config, tmp_path)

    for name in ("config.json", "metrics.jsonl", "dictionaries.npz", "results.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    for name in ("tree_atoms", "l1_atoms", "training_curves"):
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 0, name
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["num_atoms"] == 7
    assert written["data_source"] == "sample"
    assert written["train_images"][0] == 9
    assert written["eval_images"][0] == 1

    records = read_metrics(tmp_path / "metrics.jsonl")
    for run in ("tree", "l1"):
        steps = [r["step"] for r in records if r["split"] == "train" and r["run"] == run]
        assert steps == [1, 4, 8, 12], run
        assert [r["run"] for r in records if r["split"] == "eval"].count(run) == 1, run

    with np.load(tmp_path / "dictionaries.npz") as arrays:
        dictionary = arrays["tree_dictionary"]
        parents = arrays["parents"]
    assert dictionary.shape == (36, 7)
    np.testing.assert_allclose(np.linalg.norm(dictionary, axis=0), 1, atol=1e-5)
    np.testing.assert_array_equal(parents, [-1, 0, 0, 1, 1, 2, 2])

    for run in ("tree", "l1"):
        evaluation = results["runs"][run]["eval"]
        for key in ("objective", "reconstruction", "penalty", "snr_db"):
            assert np.isfinite(evaluation[key]), (run, key)
        assert 0 <= evaluation["active_fraction"] <= 1, run
        assert len(evaluation["firing"]) == 7, run
        assert np.mean(evaluation["firing"]) == pytest.approx(evaluation["active_fraction"])
        assert len(results["runs"][run]["firing_ema"]) == 7, run
        cosines = results["runs"][run]["cosines"]
        assert cosines["parent_child_pairs"] == 6
        assert cosines["unrelated_pairs"] + cosines["along_branch_pairs"] == 21
        for key in ("parent_child", "unrelated", "all_pairs"):
            assert 0 <= cosines[f"{key}_mean_abs_cosine"] <= 1, (run, key)
    # The tree penalty keeps every support a rooted subtree.
    assert results["runs"]["tree"]["eval"]["support_rule_violations"] == 0


def test_split_images_rejects_no_training_image():
    images = np.zeros((3, 8, 8), np.float32)
    with pytest.raises(ValueError, match=r"config\.data\.eval_images must be between 1 and 2"):
        train.split_images(images, 3)


def test_results_json_is_strict():
    assert train._nan_to_none({"a": [1.0, float("nan")], "b": {"c": float("nan")}}) == {
        "a": [1.0, None],
        "b": {"c": None},
    }
