"""Learns topographic filter maps on whitened natural-image patches.

From the repository root, on the shipped crops (about a minute)::

  python -m experiments.topographic_map.main \\
      --config=experiments/topographic_map/configs/sample.py

and on the ten full 512×512 images::

  SPARSE_JAX_DATA_DIR=/path/to/data python -m experiments.topographic_map.main \\
      --config=experiments/topographic_map/configs/default.py

The configurations are ``default.py`` (predictive sparse decomposition under
a torus group penalty), ``direct.py`` (the group-sparse auto-encoder trained
end to end), ``l1_baseline.py`` (plain L1 dictionary learning), and
``sample.py`` and ``tiny.py`` (short runs on the shipped crops). Any
configuration field can be overridden, e.g.
``--config.train.sparsity_weight=0.3``. Without ``--workdir`` the outputs go
to ``~/sparse_jax_runs/topographic_map/<config file name>``; a rerun with
the same work directory resumes from its newest checkpoint.
"""

from absl import app, flags

from experiments._cli import define_flags, start_run
from experiments.topographic_map import train

FLAGS = flags.FLAGS
DEFAULT_RUNS_DIR = define_flags("topographic_map")


def main(argv: list[str]) -> None:
    workdir = start_run(argv, DEFAULT_RUNS_DIR)

    results = train.train_and_evaluate(FLAGS.config, workdir)
    evaluation = results["eval"]
    topography = results["topography"]
    print(
        f"{results['mode']} ({results['penalty']}): {results['num_units']} units, eval SNR "
        f"{evaluation['snr_db']:.2f} dB, active fraction {evaluation['active_fraction']:.4f}, "
        f"{results['resampled_atoms']} atoms resampled"
    )
    print(
        f"mean |cos| map neighbours {topography['nearest_neighbours_mean_abs_cosine']:.3f}, "
        f"all pairs {topography['all_pairs_mean_abs_cosine']:.3f}; orientation difference "
        f"neighbours {topography['nearest_neighbours_orientation_difference_deg']:.1f} deg, "
        f"all pairs {topography['all_pairs_orientation_difference_deg']:.1f} deg"
    )
    print(f"Outputs in {workdir}")


if __name__ == "__main__":
    app.run(main)
