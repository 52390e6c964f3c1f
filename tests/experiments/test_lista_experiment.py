"""End-to-end test of the LISTA-against-FISTA experiment on its tiny configuration."""

import json

import numpy as np

from experiments.lista_mnist import train
from experiments.lista_mnist.configs import tiny


def test_lista_experiment_end_to_end(tmp_path):
    config = tiny.get_config()
    results = train.train_and_evaluate(config, tmp_path)

    assert (tmp_path / "config.json").exists()
    assert (tmp_path / "figures" / "lista_vs_fista.png").stat().st_size > 0
    assert (tmp_path / "dictionary.npz").exists()
    written = json.loads((tmp_path / "results.json").read_text())
    assert [row["lista_steps"] for row in written["lista"]] == [1, 3]
    for row in results["lista"]:
        assert row["objective"] >= results["optimal_objective"] * (1 - 1e-4)
        assert np.isfinite(row["relative_code_error"])
    # More LISTA steps give a lower objective than fewer.
    assert results["lista"][1]["objective"] < results["lista"][0]["objective"]
    # FISTA's curve ends near the optimum.
    final = written["fista_objective"][str(config.curve_steps)]
    assert abs(final - results["optimal_objective"]) < 0.05 * results["optimal_objective"]

    rerun = train.train_and_evaluate(config, tmp_path)
    for first, second in zip(results["lista"], rerun["lista"], strict=True):
        assert first["objective"] == second["objective"]
