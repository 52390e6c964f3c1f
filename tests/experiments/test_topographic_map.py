"""End-to-end tests of the topographic-map experiment on its tiny configuration."""

import json

import numpy as np
import pytest

from experiments.topographic_map import train
from experiments.topographic_map.configs import tiny


@pytest.mark.parametrize(
    ("mode", "penalty"), [("psd", "torus"), ("direct", "torus"), ("dictionary", "l1")]
)
def test_experiment_end_to_end(tmp_path, mode, penalty):
    config = tiny.get_config()
    config.model.mode = mode
    config.model.penalty = penalty
    results = train.train_and_evaluate(config, tmp_path)

    for name in (
        "map_atoms.png",
        "orientation_map.png",
        "cosine_by_distance.png",
        "training_curves.png",
    ):
        assert (tmp_path / "figures" / name).stat().st_size > 0, name
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["num_units"] == 16
    assert written["data_source"] == "sample"
    assert written["mode"] == mode
    topography = written["topography"]
    for name in (
        "nearest_neighbours_mean_abs_cosine",
        "all_pairs_mean_abs_cosine",
        "nearest_neighbours_orientation_difference_deg",
        "all_pairs_orientation_difference_deg",
    ):
        assert np.isfinite(topography[name]), name
    assert 0 < results["eval"]["active_fraction"] <= 1
    assert np.isfinite(results["eval"]["snr_db"])
    if penalty == "torus":
        assert 0 < results["eval"]["active_pool_fraction"] <= 1
    if mode == "psd":
        assert np.isfinite(results["eval"]["encoder_snr_db"])

    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["split"] == "train"] == [1, 4, 8, 12]
    assert all("dead_atoms" in r for r in records if r["split"] == "train")
    params = np.load(tmp_path / "params.npz")
    np.testing.assert_allclose(np.linalg.norm(params["dictionary"], axis=0), 1.0, atol=1e-5)


def test_rerun_resumes_from_the_checkpoint(tmp_path):
    config = tiny.get_config()
    config.train.num_steps = 6
    train.train_and_evaluate(config, tmp_path)
    config.train.num_steps = 12
    train.train_and_evaluate(config, tmp_path)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train_steps = [r["step"] for r in records if r["split"] == "train"]
    # Steps 1-6 come from the first run; the second starts at 7 and rewrites nothing before.
    assert train_steps == [1, 4, 6, 8, 12]


def test_dead_atoms_are_resampled(tmp_path):
    config = tiny.get_config()
    config.dead.min_rate = 1.1  # every atom counts as dead at the resampling step
    config.dead.resample_every = 6
    config.dead.resample_until_fraction = 0.5
    results = train.train_and_evaluate(config, tmp_path)
    assert results["resampled_atoms"] == 16


def test_orientation_differences_smooth_and_random():
    side = 8
    columns = np.tile(np.arange(side), side)
    smooth = np.pi * columns / side  # θ turns by 22.5° per column, constant along columns
    measures = train.orientation_differences(smooth, side)
    # Neighbours: half differ by 22.5° (along rows), half by 0 (along columns).
    assert measures["nearest_neighbours_orientation_difference_deg"] == pytest.approx(11.25)
    random = np.random.default_rng(0).uniform(0, np.pi, side * side)
    measures = train.orientation_differences(random, side)
    assert measures["all_pairs_orientation_difference_deg"] == pytest.approx(45, abs=3)


def test_config_rejects_unknown_mode_and_torus_dictionary(tmp_path):
    config = tiny.get_config()
    config.model.mode = "lista"
    with pytest.raises(ValueError, match=r"model\.mode must be one of"):
        train.train_and_evaluate(config, tmp_path)
    config.model.mode = "dictionary"
    with pytest.raises(ValueError, match="plain L1 baseline"):
        train.train_and_evaluate(config, tmp_path)


def test_resume_rejects_fewer_steps_and_a_changed_config(tmp_path):
    config = tiny.get_config()
    config.train.num_steps = 6
    train.train_and_evaluate(config, tmp_path)
    config.train.num_steps = 4
    with pytest.raises(ValueError, match=r"checkpoint at step 6, after train\.num_steps=4"):
        train.train_and_evaluate(config, tmp_path)
    config.train.num_steps = 12
    config.map.side = 6
    with pytest.raises(ValueError, match=r"different configuration \(map\.side\)"):
        train.train_and_evaluate(config, tmp_path)


def test_config_rejects_nonpositive_sizes(tmp_path):
    config = tiny.get_config()
    config.model.inference_steps = 0
    with pytest.raises(ValueError, match=r"model\.inference_steps must be a positive integer"):
        train.train_and_evaluate(config, tmp_path)
