"""Compares pretrained and randomly initialised two-layer conv nets on MNIST.

From the repository root::

  SPARSE_JAX_DATA_DIR=/path/to/data python -m experiments.stacked_mnist.main \\
      --config=experiments/stacked_mnist/configs/default.py

Any configuration field can be overridden, e.g. ``--config.finetune.num_steps=3000``
or ``--config.seeds='(0,)'``. Without ``--workdir`` the outputs go to
``~/sparse_jax_runs/stacked_mnist/<config file name>``. Rerunning with the
same work directory reuses the pretrained encoders and the finished runs.
"""

import pathlib

from absl import app, flags
from ml_collections import config_flags

from experiments._cli import quiet_library_logs, resolve_workdir
from experiments.stacked_mnist import train

FLAGS = flags.FLAGS
DEFAULT_RUNS_DIR = pathlib.Path("~/sparse_jax_runs/stacked_mnist")

config_flags.DEFINE_config_file(
    "config",
    None,
    "Path of a configuration file in experiments/stacked_mnist/configs/.",
    lock_config=True,
)
flags.DEFINE_string(
    "workdir",
    None,
    "Folder for the pretrained encoders, runs, metrics and figures; default "
    f"{DEFAULT_RUNS_DIR}/<config file name without .py>.",
)
flags.mark_flags_as_required(["config"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected command-line arguments: {' '.join(argv[1:])}")
    quiet_library_logs()
    workdir = resolve_workdir(FLAGS, DEFAULT_RUNS_DIR)

    results = train.train_and_evaluate(FLAGS.config, workdir)
    print(f"Architecture: {results['architecture']}")
    print(train.results_table(results["summary"]))
    print(f"Outputs in {workdir}")


if __name__ == "__main__":
    app.run(main)
