"""End-to-end tests of the conv_natural, stacked_mnist and pinwheels experiments (tiny configs)."""

import json

import numpy as np
import pytest

from experiments.conv_natural import train as conv_natural
from experiments.conv_natural.configs import tiny as conv_natural_tiny
from experiments.pinwheels import train as pinwheels
from experiments.pinwheels.configs import tiny as pinwheels_tiny
from experiments.stacked_mnist import train as stacked_mnist
from experiments.stacked_mnist.configs import tiny as stacked_tiny
from sparse_jax.training import read_metrics


def test_conv_natural_tiny_writes_outputs(tmp_path):
    config = conv_natural_tiny.get_config()

    results = conv_natural.train_and_evaluate(config, tmp_path)

    for name in ("config.json", "metrics.jsonl", "params.npz", "results.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    for name in ("encoder_filters", "decoder_atoms", "training_curves"):
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 0, name
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert [record["step"] for record in records if record["split"] == "train"] == [5, 10, 15, 20]
    assert np.isfinite(results["snr_db"])
    assert 0 <= results["active_fraction"] <= 1
    with np.load(tmp_path / "params.npz") as params:
        atoms = params["decoder"]
    assert atoms.shape == (5, 5, 1, 4)
    assert np.all(np.sqrt(np.sum(atoms**2, axis=(0, 1, 2))) <= 1 + 1e-6)


def test_stacked_mnist_tiny_compares_both_inits_and_resumes(tmp_path):
    config = stacked_tiny.get_config()

    results = stacked_mnist.train_and_evaluate(config, tmp_path)

    summary = {(row["labels"], row["init"]): row for row in results["summary"]}
    assert set(summary) == {
        (20, "pretrained"),
        (20, "random"),
        (100, "pretrained"),
        (100, "random"),
    }
    for row in summary.values():
        assert row["seeds"] == 2
        assert all(0 <= error <= 1 for error in row["errors"])
    assert results["test_examples"] == 1000
    assert (tmp_path / "figures" / "test_error.png").stat().st_size > 0
    assert (tmp_path / "figures" / "layer1_filters.png").stat().st_size > 0
    assert "| 20 | pretrained |" in (tmp_path / "results.md").read_text()
    assert len(list((tmp_path / "runs").glob("*.json"))) == 8

    # A rerun reuses the pretrained encoders and the finished runs.
    rerun = stacked_mnist.train_and_evaluate(config, tmp_path)
    assert rerun["runs"] == results["runs"]
    assert rerun["pretrain_seconds_per_seed"] == results["pretrain_seconds_per_seed"]


def test_stacked_label_subsets_per_seed():
    first = stacked_mnist.labelled_subset(0, 600, 60000)

    assert np.array_equal(first, stacked_mnist.labelled_subset(0, 600, 60000))
    assert not np.array_equal(first, stacked_mnist.labelled_subset(1, 600, 60000))
    assert len(np.unique(first)) == 600


def test_pinwheels_tiny_measures_every_seed(tmp_path):
    config = pinwheels_tiny.get_config()

    results = pinwheels.train_and_evaluate(config, tmp_path)

    assert [run["seed"] for run in results["seeds"]] == [0, 1]
    for run in results["seeds"]:
        assert run["spacing"] > 0
        assert run["density"] >= 0
        assert len(run["subregion_densities"]) == 4
    assert "ci95_low" in results["density"]
    for name in ("orientation_map", "orientation_map_smoothed", "sheet_filters"):
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 0, name
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["image_size"] == [17, 17]


def test_conv_natural_resume_matches_an_uninterrupted_run(tmp_path):
    config = conv_natural_tiny.get_config()
    conv_natural.train_and_evaluate(config, tmp_path / "whole")
    config.num_steps = 10
    conv_natural.train_and_evaluate(config, tmp_path / "split")
    config.num_steps = 20
    conv_natural.train_and_evaluate(config, tmp_path / "split")
    whole = np.load(tmp_path / "whole" / "params.npz")
    split = np.load(tmp_path / "split" / "params.npz")
    for name in whole.files:
        np.testing.assert_array_equal(split[name], whole[name], err_msg=name)
    records = [
        json.loads(line) for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in records if r["split"] == "train"] == [5, 10, 15, 20]
    config.num_steps = 5
    with pytest.raises(ValueError, match="checkpoint at step 20, after num_steps=5"):
        conv_natural.train_and_evaluate(config, tmp_path / "split")
