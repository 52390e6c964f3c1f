"""Trains a convolutional group-sparse auto-encoder on whitened natural images.

From the repository root::

  SPARSE_JAX_DATA_DIR=/path/to/data python -m experiments.conv_natural.main \\
      --config=experiments/conv_natural/configs/default.py

Any configuration field can be overridden, e.g. ``--config.group_weight=0.3``
or ``--config.model.num_features=32``. Without ``--workdir`` the outputs go to
``~/sparse_jax_runs/conv_natural/<config file name>``.
"""

from absl import app, flags

from experiments._cli import define_flags, start_run
from experiments.conv_natural import train

FLAGS = flags.FLAGS
DEFAULT_RUNS_DIR = define_flags("conv_natural")


def main(argv: list[str]) -> None:
    workdir = start_run(argv, DEFAULT_RUNS_DIR)

    results = train.train_and_evaluate(FLAGS.config, workdir)
    print(
        f"Held-out crops: reconstruction SNR {results['snr_db']:.2f} dB, "
        f"{100 * results['active_fraction']:.1f} % of code entries active, "
        f"{100 * results['oriented_atom_fraction']:.0f} % of atoms oriented "
        f"(selectivity > 0.5). Training took {results['train_seconds']:.0f} s. "
        f"Outputs in {workdir}"
    )


if __name__ == "__main__":
    app.run(main)
