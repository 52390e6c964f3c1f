"""Trains a convolutional group-sparse auto-encoder on whitened natural images.

From the repository root::

  SPARSE_JAX_DATA_DIR=/path/to/data python -m experiments.conv_natural.main \\
      --config=experiments/conv_natural/configs/default.py

Any configuration field can be overridden, e.g. ``--config.group_weight=0.3``
or ``--config.model.num_features=32``. Without ``--workdir`` the outputs go to
``~/sparse_jax_runs/conv_natural/<config file name>``.
"""

import pathlib

from absl import app, flags
from ml_collections import config_flags

from experiments._cli import quiet_library_logs, resolve_workdir
from experiments.conv_natural import train

FLAGS = flags.FLAGS
DEFAULT_RUNS_DIR = pathlib.Path("~/sparse_jax_runs/conv_natural")

config_flags.DEFINE_config_file(
    "config",
    None,
    "Path of a configuration file in experiments/conv_natural/configs/.",
    lock_config=True,
)
flags.DEFINE_string(
    "workdir",
    None,
    "Folder for metrics, parameters and figures; default "
    f"{DEFAULT_RUNS_DIR}/<config file name without .py>.",
)
flags.mark_flags_as_required(["config"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected command-line arguments: {' '.join(argv[1:])}")
    quiet_library_logs()
    workdir = resolve_workdir(FLAGS, DEFAULT_RUNS_DIR)

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
