"""End-to-end tests of experiments/drsae_mnist on the tiny configuration."""

import json
import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

from experiments.drsae_mnist import train
from experiments.drsae_mnist.configs import tiny
from sparse_jax.training import Checkpointer, NonFiniteLossError, read_metrics

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]

STEPS_PER_EPOCH = 4  # 64 training images in batches of 16
TOTAL_STEPS = 4 * STEPS_PER_EPOCH


def _digit_like_splits(seed=0):
    """Blob images whose position depends on the class, so the labels are learnable."""
    rng = np.random.default_rng(seed)
    splits = {}
    for name, size in (("train", 64), ("validation", 32), ("test", 32)):
        labels = rng.integers(0, 10, size).astype(np.int32)
        images = rng.uniform(0, 0.2, (size, 28, 28)).astype(np.float32)
        for i, label in enumerate(labels):
            row, column = 4 + 2 * (label // 5) * 5, 3 + 4 * (label % 5)
            images[i, row : row + 6, column : column + 5] = 1.0
        splits[name] = train.Split(images=images.reshape(size, 784), labels=labels)
    return splits


@pytest.fixture(scope="module")
def splits():
    return _digit_like_splits()


def _config(**overrides):
    config = tiny.get_config()
    for name, value in overrides.items():
        config[name] = value
    return config


def _assert_trees_equal(actual, expected):
    leaves = jax.tree_util.tree_leaves_with_path(expected)
    actual_leaves = jax.tree.leaves(actual)
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for (path, leaf), actual_leaf in zip(leaves, actual_leaves, strict=True):
        np.testing.assert_array_equal(actual_leaf, leaf, err_msg=jax.tree_util.keystr(path))


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, splits):
    workdir = tmp_path_factory.mktemp("straight")
    outcome = train.train_and_evaluate(_config(), workdir, datasets=splits)
    return workdir, outcome


def test_tiny_run_writes_outputs(straight_run):
    workdir, outcome = straight_run
    assert outcome.progress.step == TOTAL_STEPS
    assert outcome.test_error is not None and 0.0 <= outcome.test_error <= 1.0
    assert outcome.best_params is not None

    config = json.loads((workdir / "config.json").read_text())
    assert config["model"]["num_units"] == 16
    results = json.loads((workdir / "results.json").read_text())
    assert results["test_error"] == outcome.test_error
    assert results["steps"] == TOTAL_STEPS
    for figure in ("encoder_filters.png", "decoder_atoms.png", "training_curves.png"):
        assert (workdir / "figures" / figure).stat().st_size > 0, figure

    records = read_metrics(workdir / "metrics.jsonl")
    splits_seen = [record["split"] for record in records]
    assert splits_seen.count("validation") == 4
    assert splits_seen.count("test") == 1
    train_records = [record for record in records if record["split"] == "train"]
    assert [record["step"] for record in train_records] == list(range(2, TOTAL_STEPS + 1, 2))
    for key in (
        "loss",
        "error_rate",
        "active_fraction",
        "dead_units",
        "grad_norm",
        "param_norm",
        "update_norm",
    ):
        assert key in train_records[-1], key


def test_tiny_run_keeps_best_validation_params(straight_run):
    workdir, outcome = straight_run
    records = read_metrics(workdir / "metrics.jsonl")
    # Epochs 1 and 2 train the auto-encoder only and do not compete for the best.
    phase_two = [r for r in records if r["split"] == "validation" and r["epoch"] > 2]
    best = min(phase_two, key=lambda r: (r["error_rate"], r["cross_entropy"]))
    assert outcome.progress.best_step == best["step"]
    assert outcome.progress.best_validation_error == best["error_rate"]
    test_record = next(r for r in records if r["split"] == "test")
    assert test_record["best_step"] == best["step"]


def test_resume_matches_uninterrupted_run(tmp_path, splits, straight_run):
    _, straight = straight_run
    workdir = tmp_path / "resumed"
    interrupted = train.train_and_evaluate(_config(max_steps=6), workdir, datasets=splits)
    assert interrupted.progress.step == 6
    assert interrupted.progress.batch_index == 2  # stopped inside the second epoch
    assert interrupted.test_error is None
    assert Checkpointer(workdir / "checkpoints").latest_step() == 6

    resumed = train.train_and_evaluate(_config(), workdir, datasets=splits)
    assert resumed.progress.step == TOTAL_STEPS
    _assert_trees_equal(resumed.state, straight.state)
    _assert_trees_equal(resumed.best_params, straight.best_params)
    assert resumed.test_error == straight.test_error

    rerun = train.train_and_evaluate(_config(), workdir, datasets=splits)
    assert rerun.progress.step == TOTAL_STEPS
    assert rerun.test_error == straight.test_error

    steps = [(r["split"], r["step"]) for r in read_metrics(workdir / "metrics.jsonl")]
    assert len(steps) == len(set(steps)), "resuming must not duplicate metric records"


def test_resume_rejects_changed_config(tmp_path, splits):
    workdir = tmp_path / "changed"
    train.train_and_evaluate(_config(max_steps=2), workdir, datasets=splits)
    with pytest.raises(ValueError, match=r"different configuration \(changed: l1_weight\)"):
        train.train_and_evaluate(_config(l1_weight=0.5), workdir, datasets=splits)


def test_non_finite_keeps_last_checkpoint(tmp_path, splits):
    workdir = tmp_path / "nan"
    first = train.train_and_evaluate(_config(max_steps=STEPS_PER_EPOCH), workdir, datasets=splits)
    saved_params = first.state.params

    poisoned = dict(splits)
    images = splits["train"].images.copy()
    images[:, 100] = np.nan  # every batch of the next epoch fails
    poisoned["train"] = train.Split(images=images, labels=splits["train"].labels)
    with pytest.raises(
        NonFiniteLossError, match=f"Non-finite training step {STEPS_PER_EPOCH + 1} "
    ) as error:
        train.train_and_evaluate(_config(), workdir, datasets=poisoned)
    assert error.value.step == STEPS_PER_EPOCH + 1

    checkpointer = Checkpointer(workdir / "checkpoints")
    assert checkpointer.all_steps() == [STEPS_PER_EPOCH]
    restored, metadata = checkpointer.restore(first.state)
    assert metadata["step"] == STEPS_PER_EPOCH
    _assert_trees_equal(restored.params, saved_params)
    checkpointer.close()

    records = read_metrics(workdir / "metrics.jsonl")
    assert records[-1]["event"] == "non_finite"
    assert records[-1]["step"] == STEPS_PER_EPOCH + 1


@pytest.mark.slow
def test_command_line_sample_run(tmp_path):
    environment = {key: value for key, value in os.environ.items() if key != "SPARSE_JAX_DATA_DIR"}
    workdir = tmp_path / "cli"
    command = [
        sys.executable,
        "-m",
        "experiments.drsae_mnist.main",
        "--config=experiments/drsae_mnist/configs/tiny.py",
        f"--workdir={workdir}",
        "--config.num_epochs=3",
    ]
    completed = subprocess.run(
        command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Test error: " in completed.stdout
    assert json.loads((workdir / "config.json").read_text())["num_epochs"] == 3
    assert json.loads((workdir / "results.json").read_text())["steps"] == 3 * STEPS_PER_EPOCH


@pytest.mark.parametrize(
    ("field", "value"),
    [("batch_size", 0), ("batch_size", -5), ("num_epochs", 0), ("learning_rate", -1.0)],
)
def test_invalid_run_config_raises(tmp_path, field, value):
    config = tiny.get_config()
    config[field] = value
    with pytest.raises(ValueError, match=f"config.{field} must be positive, got {value}"):
        train.train_and_evaluate(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()
